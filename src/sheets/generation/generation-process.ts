import { conflict, validationError } from '../../platform/app-error.ts';
import { formulaInputs } from '../sheet-formula.ts';
import type { ColumnRow } from '../sheet-store.ts';
import type { OutputSpec } from './generation-output.ts';
import type { GenerationParameters, SearchSettings } from './generation-schema.ts';
import type { ProcessRow } from './generation-store.ts';
import { canonicalJson, displayTemplate, sha256, templateInputs } from './prompt-template.ts';

/**
 * A process as a run uses it: stored template and search query (references by id), the
 * columns they read, and the hash that tells a cell whether it was made by this version.
 */
export interface ProcessSnapshot {
  processId: string;
  projectId: string;
  datasetId: string;
  columnId: string;
  columnName: string;
  version: number;
  promptHash: string;
  template: string;
  instructions: string;
  provider: string | undefined;
  model: string;
  parameters: GenerationParameters;
  output: OutputSpec;
  search: { enabled: boolean; query: string | undefined } | undefined;
  /** Columns the prompt (and search query) read, in order of first use. */
  inputs: string[];
  /** No input column: rows get a seed each and near-duplicates are checked. */
  diversity: boolean;
}

/** The fields whose change makes every generated cell of the column stale. */
export function promptHashOf(fields: {
  template: string;
  instructions: string;
  provider: string | null | undefined;
  model: string;
  parameters: unknown;
  output: OutputSpec;
  search: unknown;
}): string {
  return sha256(
    canonicalJson({
      template: fields.template,
      instructions: fields.instructions,
      provider: fields.provider ?? null,
      model: fields.model,
      parameters: fields.parameters ?? {},
      output: fields.output,
      search: fields.search ?? null,
    }),
  ).slice(0, 32);
}

export function outputSpecOf(row: ProcessRow): OutputSpec {
  switch (row.output_type) {
    case 'category':
      return { type: 'category', categories: row.categories as string[] };
    case 'json':
      return { type: 'json', schema: row.json_schema as Record<string, unknown> };
    case 'image':
      return row.image_size ? { type: 'image', size: row.image_size } : { type: 'image' };
    default:
      return { type: row.output_type };
  }
}

export function searchOf(row: ProcessRow): SearchSettings | undefined {
  return (row.search as SearchSettings | null) ?? undefined;
}

export function snapshotOf(row: ProcessRow, columns: readonly ColumnRow[]): ProcessSnapshot {
  const search = searchOf(row);
  const inputs = [
    ...new Set([
      ...templateInputs(row.prompt),
      ...(search?.query ? templateInputs(search.query) : []),
    ]),
  ];
  const column = columns.find((candidate) => candidate.id === row.column_id);
  return {
    processId: row.id,
    projectId: row.project_id,
    datasetId: row.dataset_id,
    columnId: row.column_id,
    columnName: column?.name ?? 'column',
    version: row.version,
    promptHash: row.prompt_hash,
    template: row.prompt,
    instructions: row.instructions,
    provider: row.provider ?? undefined,
    model: row.model,
    parameters: (row.parameters ?? {}) as GenerationParameters,
    output: outputSpecOf(row),
    search: search ? { enabled: search.enabled, query: search.query } : undefined,
    inputs,
    diversity: templateInputs(row.prompt).length === 0,
  };
}

/** Columns the process reads that no longer exist (deleted with `force`). */
export function missingInputs(
  row: Pick<ProcessRow, 'prompt' | 'search'>,
  columns: readonly ColumnRow[],
): string[] {
  const known = new Set(columns.map((column) => column.id));
  const query = searchOf(row as ProcessRow)?.query;
  return [
    ...new Set([...templateInputs(row.prompt), ...(query ? templateInputs(query) : [])]),
  ].filter((id) => !known.has(id));
}

/**
 * Refuses a process whose inputs are missing (a column deleted with `force`) before any call
 * is made: 409, the state of the column (not the request) is what is wrong.
 */
export function requireInputs(snapshot: ProcessSnapshot, columns: readonly ColumnRow[]): void {
  const known = new Set(columns.map((column) => column.id));
  const missing = snapshot.inputs.filter((id) => !known.has(id));
  if (missing.length > 0)
    throw conflict(
      `The prompt of ${snapshot.columnName} refers to a deleted column (shown as {{deleted column}}); edit the prompt before running it`,
      { columnId: snapshot.columnId, needsPromptEdit: true },
    );
}

/** How the process reads back: references shown with the columns' current names. */
export function presentProcess(row: ProcessRow, columns: readonly ColumnRow[]) {
  const search = searchOf(row);
  const names = columns.map((column) => ({ id: column.id, name: column.name }));
  return {
    id: row.id,
    columnId: row.column_id,
    version: row.version,
    prompt: displayTemplate(row.prompt, names),
    instructions: row.instructions,
    provider: row.provider,
    model: row.model,
    parameters: row.parameters as GenerationParameters,
    output: outputSpecOf(row),
    search: search
      ? {
          enabled: search.enabled,
          ...(search.query ? { query: displayTemplate(search.query, names) } : {}),
        }
      : null,
    inputColumnIds: row.input_column_ids,
    /** A column it reads was deleted: runs are refused until the prompt is edited. */
    needsPromptEdit: missingInputs(row, columns).length > 0,
    promptHash: row.prompt_hash,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/**
 * Direct inputs of every computed column: AI columns through their processes, formula columns
 * through their formulas. Edges point from a column to the columns it reads.
 */
export function dependencyGraph(
  columns: readonly ColumnRow[],
  processes: readonly { column_id: string; input_column_ids: string[] }[],
): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const column of columns)
    if (column.kind === 'formula' && column.formula)
      graph.set(column.id, formulaInputs(column.formula));
  for (const process of processes) graph.set(process.column_id, process.input_column_ids);
  return graph;
}

/** Refuses inputs that would make `columnId` depend on itself, naming the path of the cycle. */
export function refuseCycle(
  graph: ReadonlyMap<string, readonly string[]>,
  columnId: string,
  inputs: readonly string[],
  names: ReadonlyMap<string, string>,
): void {
  const path: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string): boolean => {
    if (id === columnId) return true;
    if (seen.has(id)) return false;
    seen.add(id);
    path.push(id);
    for (const next of graph.get(id) ?? []) if (visit(next)) return true;
    path.pop();
    return false;
  };
  for (const input of inputs) {
    if (visit(input)) {
      const cycle = [columnId, ...path, columnId].map((id) => names.get(id) ?? id).join(' → ');
      throw validationError(`The prompt would make the column depend on itself: ${cycle}`, [
        { path: 'prompt', message: 'dependency cycle' },
      ]);
    }
  }
}

/**
 * The AI columns to refresh after `columnId` changed: those that read it directly or through
 * formula columns, stopping at the first AI column on each path (each of those then refreshes
 * its own readers in turn, so a column never runs before the columns it reads).
 */
export function nextAiReaders(
  graph: ReadonlyMap<string, readonly string[]>,
  columnId: string,
  aiColumnIds: ReadonlySet<string>,
): string[] {
  const readers = new Map<string, string[]>();
  for (const [reader, inputs] of graph)
    for (const input of inputs) readers.set(input, [...(readers.get(input) ?? []), reader]);
  const found: string[] = [];
  const seen = new Set<string>([columnId]);
  let frontier = [columnId];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const id of frontier)
      for (const reader of readers.get(id) ?? []) {
        if (seen.has(reader)) continue;
        seen.add(reader);
        if (aiColumnIds.has(reader)) found.push(reader);
        else next.push(reader);
      }
    frontier = next;
  }
  return found;
}
