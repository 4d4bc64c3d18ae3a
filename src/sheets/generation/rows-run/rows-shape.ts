import type { LlmMessage } from '../../../llm/llm-provider.ts';
import { isAppError, validationError } from '../../../platform/app-error.ts';
import type { ColumnType } from '../../sheet-schema.ts';
import type { ColumnRow } from '../../sheet-store.ts';
import type { compileJsonSchema } from '../generation-output.ts';
import type { RunRow } from '../generation-store.ts';
import { sha256 } from '../prompt-template.ts';

/**
 * What a generate-rows run asks and keeps: its scope, the columns it fills, the object one
 * call answers, the prompt of row N, and the rows it could not make.
 */
export interface RowsScope {
  description: string;
  count: number;
  columnIds: string[];
  provider: string | undefined;
  model: string;
  parameters: Record<string, unknown>;
}

const JSON_TYPE: Record<ColumnType, Record<string, unknown>> = {
  text: { type: 'string' },
  integer: { type: 'integer' },
  number: { type: 'number' },
  boolean: { type: 'boolean' },
  date: { type: 'string', format: 'date' },
  timestamp: { type: 'string', format: 'date-time' },
  json: {},
  image: { type: 'null' },
};

/** The object one call answers: a property per column, by column name. */
export function rowSchema(columns: readonly ColumnRow[]): Record<string, unknown> {
  return {
    type: 'object',
    properties: Object.fromEntries(columns.map((column) => [column.name, JSON_TYPE[column.type]])),
    required: columns.map((column) => column.name),
    additionalProperties: false,
  };
}

export function rowMessages(
  scope: RowsScope,
  columns: readonly ColumnRow[],
  index: number,
  avoid: readonly string[],
): LlmMessage[] {
  const seed = sha256(`${scope.description}:${index}`).slice(0, 8);
  let user = `${scope.description}\n\nColumns: ${columns.map((column) => `${column.name} (${column.type})`).join(', ')}.\nThis is row ${index + 1} of ${scope.count} (seed ${seed}): make it different from the other rows.`;
  if (avoid.length > 0)
    user += `\nDo not repeat or closely resemble: ${avoid.map((text) => JSON.stringify(text.slice(0, 200))).join('; ')}`;
  return [
    {
      role: 'system',
      content:
        'You invent one row of a table at a time. Answer with one JSON object whose keys are the column names.',
    },
    { role: 'user', content: user },
  ];
}

/** Calls per requested row before it is reported as failed. */
export const ROW_ATTEMPTS = 3;
/** Failed rows listed in a run's result (its `errors` count covers them all). */
export const LISTED_FAILURES = 100;

/** A requested row that was not made: its 1-based number in the run, the calls made, why. */
export interface RowFailure {
  row: number;
  attempts: number;
  reason: string;
}

export type RowAnswer = { ok: true; row: Record<string, unknown> } | { ok: false; reason: string };

/**
 * Worth asking again: an answer the provider's structured output could not parse. A transport
 * failure is not: the LLM router already retried it (one retry loop, docs/llm.md), and asking
 * again would multiply its attempts; rate limiting is waited out apart (the row keeps its
 * attempts). Others (a refused key, an unknown model, a rejected request) would repeat.
 */
export function isRowRetryable(error: unknown): boolean {
  if (!isAppError(error)) return false;
  const reason = (error.details as { reason?: unknown } | undefined)?.reason;
  return reason === 'invalid-output';
}

export function failuresOf(run: RunRow): RowFailure[] {
  const details = (run.error as { details?: { failedRows?: unknown } } | null)?.details;
  return Array.isArray(details?.failedRows) ? (details.failedRows as RowFailure[]) : [];
}

/** The run's `error` while rows failed: how many of the requested, and the first of them. */
export function failureSummary(total: number, errors: number, failures: readonly RowFailure[]) {
  if (errors === 0) return null;
  return {
    code: 'PROVIDER_ERROR',
    message: `${errors} of ${total} rows could not be generated (after up to ${ROW_ATTEMPTS} attempts each)`,
    details: { failedRows: failures },
  };
}

/** A rows run's counts after an appended batch: the output of its `batch-N` step. */
export interface BatchCounts {
  done: number;
  errors: number;
  duplicates: number;
  inputTokens: number;
  outputTokens: number;
  costNano: number;
  error: ReturnType<typeof failureSummary>;
}

/** The static columns a rows run fills (all of them when none are named). */
export const columnsOf = (all: readonly ColumnRow[], ids: readonly string[] | undefined) => {
  const statics = all.filter((column) => column.kind === 'static');
  const chosen = ids ? ids.map((id) => statics.find((column) => column.id === id)) : statics;
  if (chosen.length === 0 || chosen.some((column) => column === undefined))
    throw validationError('Choose static columns of this dataset to fill', [
      { path: 'columnIds', message: 'unknown or not a static column' },
    ]);
  return chosen as ColumnRow[];
};

/** The columns a rows run fills, the schema of one answer and its validator. */
export interface RowShape {
  chosen: ColumnRow[];
  schema: Record<string, unknown>;
  validator: ReturnType<typeof compileJsonSchema>;
}

/** The text two rows are compared by for near-duplicates. */
export const signature = (row: Record<string, unknown>) =>
  Object.values(row)
    .map((value) => (typeof value === 'string' ? value : JSON.stringify(value)))
    .join(' | ');
