/**
 * The shapes that cross the wire between the server and the web client, in one place: the
 * server's presenters are typed with them (so a field a presenter adds or drops is a compile
 * error here first) and `web/src/api/` imports them instead of keeping copies. This module
 * imports nothing, so the browser build can use it as it is; it holds types and the few
 * constant lists both sides enumerate. What is not here does not leave the server.
 */

/** Column value types a user sees; each maps to one DuckDB type (see sheet-data-store.ts). */
export const COLUMN_TYPES = [
  'text',
  'integer',
  'number',
  'boolean',
  'date',
  'timestamp',
  'json',
] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/** static: values typed or imported; formula: a DuckDB expression; ai: filled by a process. */
export const COLUMN_KINDS = ['static', 'formula', 'ai'] as const;
export type ColumnKind = (typeof COLUMN_KINDS)[number];

export const CELL_STATUSES = ['pending', 'generating', 'done', 'error', 'stale'] as const;
export type CellStatus = (typeof CELL_STATUSES)[number];

/** A cell value as JSON carries it; typed on write by the column's type. */
export type CellValue = string | number | boolean | null | Record<string, unknown> | unknown[];

/** The file formats a dataset downloads as. */
export const EXPORT_FORMATS = ['csv', 'tsv', 'jsonl', 'parquet', 'xlsx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ColumnView {
  id: string;
  name: string;
  type: ColumnType;
  kind: ColumnKind;
  /** A formula column's expression with `{{Column Name}}` references (current names). */
  formula: string | null;
  position: number;
  hidden: boolean;
}

export interface DatasetView {
  id: string;
  projectId: string;
  name: string;
  status: string;
  /** Null while the dataset is not ready (importing) or deleted. */
  rowCount: number | null;
  columns: ColumnView[];
  createdAt: string | null;
  updatedAt: string | null;
  deletedAt: string | null;
  purgeAfter: string | null;
}

/** A cell's value and the state a user sees (no generation internals such as input hashes). */
export interface CellView {
  value: CellValue;
  status: CellStatus;
  version: number;
  validated: boolean;
  error: string | null;
  /** The text a cell held before a failed type conversion, or a model's unparseable answer. */
  raw: string | null;
  model: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  costNanoUsd: number | null;
  latencyMs: number | null;
  attempts: number | null;
  sources: unknown;
  updatedAt: string | null;
}

/** One cell of a change: its row and the cell. */
export type CellUpdateView = CellView & { rowId: string };

/** The answer to a single cell edit. */
export type EditedCellView = CellUpdateView & { columnId: string };

export interface RowView {
  rowId: string;
  /** 1-based position in the requested order and filter. */
  ordinal: number;
  cells: Record<string, CellView>;
}

export interface RowWindowView {
  total: number;
  offset: number;
  rows: RowView[];
  /** The dataset stream's last event id when the window was read: resume events after it. */
  lastEventId: number;
}

export interface BulkEditResultView {
  cells: EditedCellView[];
  conflicts: { index: number; rowId: string; columnId: string; current: CellView }[];
}

export interface SqlResultView {
  columns: { name: string; type: string }[];
  rows: Record<string, unknown>[];
  truncated: boolean;
}

/**
 * The sheets events of a dataset's Server-Sent Events stream (`…/datasets/:id/events`), by
 * event name. AI-column runs add `run-progress` to the same stream (RunProgressEventView).
 */
export interface DatasetEventViews {
  'cells-update': { columnId: string; cells: CellUpdateView[] };
  'columns-change': { columns: ColumnView[] };
  'dataset-change': { name: string };
  'dataset-delete': { id: string };
  'rows-append': { rowIds: string[] };
  'rows-delete': { rowIds: string[] };
}
