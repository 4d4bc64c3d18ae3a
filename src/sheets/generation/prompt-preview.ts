import type { Actor } from '../../access/actor.ts';
import { systemActor } from '../../auth/system-actor.ts';
import { notFound } from '../../platform/app-error.ts';
import type { PromptPreviewView } from '../../shared/api-types.ts';
import type { CellValue } from '../sheet-schema.ts';
import { type AiColumnUseCasesDeps, resolvePrompt } from './ai-column-shared.ts';
import { buildMessages, cellPrompt, diversitySeed } from './generation-messages.ts';
import { compileJsonSchema } from './generation-output.ts';
import { type PromptPreviewInput, promptPreviewSchema } from './generation-schema.ts';

/** A draft prompt rendered for the first rows (the wire type is the domain record). */
export type PromptPreview = PromptPreviewView;

/**
 * Use case: the messages a draft prompt sends for the first rows (row-id order, as a range run
 * counts them), rendered by the same code as a run and without calling a model. Few-shot
 * examples and search results are added at run time and left out; so is the per-row variety
 * note of a prompt that reads no column, until the column exists (its seed is the process id).
 */
export function previewPromptUseCase(deps: AiColumnUseCasesDeps) {
  const { store, sheets } = deps;
  return async function previewPrompt(
    actor: Actor,
    projectId: string,
    datasetId: string,
    input: PromptPreviewInput,
  ): Promise<PromptPreview> {
    const parsed = promptPreviewSchema.parse(input);
    const { columns } = await sheets.requireDataset(actor, projectId, datasetId, 'viewer');
    const self =
      parsed.columnId === undefined
        ? undefined
        : columns.find((column) => column.id === parsed.columnId);
    if (parsed.columnId !== undefined && !self) throw notFound('column', parsed.columnId);
    const { template } = resolvePrompt(parsed.prompt, columns, {
      id: self?.id,
      name: parsed.columnName,
    });
    if (parsed.output.type === 'json') compileJsonSchema(parsed.output.schema);
    const process = self?.kind === 'ai' ? await store.findProcessByColumn(self.id) : undefined;
    const window = await sheets.readWindow(systemActor(), projectId, datasetId, {
      limit: parsed.rows,
      columns: template.inputs,
    });
    const names = new Map(columns.map((column) => [column.id, column.name]));
    const varied = template.inputs.length === 0;
    const rows = window.rows.map((row, index) => {
      const values: Record<string, CellValue> = {};
      for (const id of template.inputs)
        values[id] = (row.cells[id] as { value: CellValue } | undefined)?.value ?? null;
      const messages = buildMessages(
        cellPrompt(
          {
            columnName: parsed.columnName ?? self?.name ?? 'column',
            output: parsed.output,
            instructions: parsed.instructions,
            template: template.stored,
          },
          values,
          { seed: varied && process ? diversitySeed(process.id, row.rowId) : undefined },
        ),
      );
      return {
        rowId: row.rowId,
        position: index + 1,
        // The cell prompt is system/user text only (prompt-template.ts).
        messages: messages.map((message) => ({
          role: message.role as 'system' | 'user' | 'assistant',
          content: message.content as string,
        })),
        missingColumns: template.inputs
          .filter((id) => values[id] === null || values[id] === '')
          .map((id) => names.get(id) ?? id),
      };
    });
    return {
      rows,
      omitted: [
        'few-shot-examples' as const,
        'search-results' as const,
        ...(varied && !process ? ['variety-note' as const] : []),
      ],
    };
  };
}
