import type { LlmMessage } from '../../llm/llm-provider.ts';
import type { CellValue } from '../sheet-schema.ts';
import type { Example } from './few-shot.ts';
import { buildMessages, type CellPrompt } from './generation-messages.ts';
import type { OutputSpec } from './generation-output.ts';
import { renderTemplate, sha256 } from './prompt-template.ts';
import type { SearchSource } from './search/search-provider.ts';

/**
 * The one prompt builder of AI cells: a run, a run's estimate and the prompt preview all turn
 * a column's settings and a row's values into messages here, so the preview shows exactly what
 * a run sends (less what only a run adds: few-shot examples, search results).
 */

/** What a column's prompt is made of (a process snapshot, or a draft being previewed). */
export interface CellPromptSettings {
  columnName: string;
  output: OutputSpec;
  instructions: string;
  /** The stored template (`{{#id}}` references, column-refs.ts). */
  template: string;
}

/**
 * The per-row variety note's seed of a prompt that reads no column: stable for a process and
 * row (so a retry asks the same way, and the response cache still answers a repeat), distinct
 * across rows.
 */
export const diversitySeed = (processId: string, rowId: string) =>
  sha256(`${processId}:${rowId}`).slice(0, 8);

/** The template filled with one row's values (by column id). */
export const renderCellTemplate = (
  settings: Pick<CellPromptSettings, 'template'>,
  values: ReadonlyMap<string, CellValue> | Readonly<Record<string, CellValue>>,
) => renderTemplate(settings.template, values);

/** One cell's prompt: the settings, the rendered row, and what a run adds to it. */
export function cellPrompt(
  settings: CellPromptSettings,
  rendered: string,
  extras: {
    examples?: readonly Example[];
    sources?: readonly SearchSource[] | undefined;
    /** The seed of the variety note (`diversitySeed`), for prompts that read no column. */
    diversity?: { seed: string; avoid?: readonly string[] } | undefined;
  } = {},
): CellPrompt {
  return {
    columnName: settings.columnName,
    outputSpec: settings.output,
    instructions: settings.instructions,
    rendered,
    examples: extras.examples ?? [],
    sources: extras.sources,
    diversity: extras.diversity
      ? { seed: extras.diversity.seed, avoid: extras.diversity.avoid ?? [] }
      : undefined,
  };
}

/** The messages of one cell's call (system rules, few-shot pairs, the row's prompt). */
export const cellMessages = (...args: Parameters<typeof cellPrompt>): LlmMessage[] =>
  buildMessages(cellPrompt(...args));
