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
  'image',
] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/**
 * An `image` cell's value: a reference to bytes in the project's content-addressed image store
 * (docs/images.md). The bytes are fetched from `/api/projects/:projectId/images/:sha256`.
 */
export interface ImageReference {
  sha256: string;
  mediaType: string;
  bytes: number;
  width: number;
  height: number;
  /** The file name it arrived with (data, never a path on our side). */
  name: string;
}

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

/** What a cell and its provenance both show: its version and how it was last made. */
export interface CellStateFields {
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
  updatedAt: string | null;
}

/** A cell's value and the state a user sees (no generation internals such as input hashes). */
export interface CellView extends CellStateFields {
  value: CellValue;
  status: CellStatus;
  sources: unknown;
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

// — AI columns and runs —

/** What an AI column's cells hold: free text, a number, yes/no, one of some categories, JSON. */
export type OutputSpecView =
  | { type: 'text' }
  | { type: 'number' }
  | { type: 'boolean' }
  | { type: 'category'; categories: string[] }
  | { type: 'json'; schema: Record<string, unknown> }
  /** Generated images (docs/images.md); size `WIDTHxHEIGHT`, absent: the provider's default. */
  | { type: 'image'; size?: string | undefined };

/** An AI column's process (prompt shown with current column names). */
export interface AiProcessView {
  id: string;
  columnId: string;
  version: number;
  prompt: string;
  instructions: string;
  provider: string | null;
  model: string;
  parameters: { temperature?: number; maxOutputTokens?: number; topP?: number };
  output: OutputSpecView;
  search: { enabled: boolean; query?: string } | null;
  inputColumnIds: string[];
  /** A column the prompt reads was deleted: runs are refused until the prompt is edited. */
  needsPromptEdit: boolean;
  createdAt: string;
  updatedAt: string;
}

export type RunMode = 'all' | 'empty' | 'range' | 'errors' | 'stale' | 'outdated' | 'cells';
export type RunStatus =
  | 'awaiting-confirmation'
  | 'queued'
  | 'running'
  | 'paused'
  | 'completed'
  | 'failed'
  | 'cancelled';

/** A running run waiting out a provider's rate limiting (it resumes by itself at `until`). */
export interface RunWaitingView {
  reason: 'rate-limited';
  /** ISO time the run resumes at. */
  until: string;
  provider: string | null;
  providerName: string | null;
  message: string;
}

/** What a run would cost and take, before it starts. */
export interface RunEstimateView {
  cells: number;
  /**
   * `bypass`: the run asks the model for every cell (a regenerate, or `fresh`); `use`: cells
   * whose current answer came from the same prompt and inputs are expected from the cache.
   */
  cache: 'use' | 'bypass';
  /** Cells the response cache is expected to answer: no cost, no wait (0 with `bypass`). */
  expectedCacheHits: number;
  /** Cells the model is expected to be asked for: what tokens, cost and duration count. */
  modelCalls: number;
  sampled: number;
  inputTokensPerCell: number;
  outputTokensPerCell: number;
  inputTokens: number;
  outputTokens: number;
  /** Null when the model's price is unknown. */
  costNano: number | null;
  durationSeconds: number;
  concurrency: number;
  /** Which limit sets `concurrency`: the provider connection's cap, or the server's. */
  concurrencyLimitedBy: 'provider' | 'server';
  confirmationRequired: boolean;
  confirmAboveNano: number;
  /** Validated cells found (few-shot candidates). */
  examplesAvailable: number;
  basis: { outputTokens: 'default' | 'observed'; latency: 'default' | 'observed' };
}

export interface RunConcurrencyView {
  /** Calls the run keeps in flight. */
  window: number;
  /** The most any run has in flight on this server. */
  serverCap: number;
  /** The provider connection's cap; null when it could not be read. */
  providerCap: number | null;
  /** The provider's adaptive limit now (lower than its cap after 429s). */
  providerLimit: number | null;
  /** Which limit holds calls back: the provider's cap, the server's, or rate limiting (429s). */
  limitedBy: 'provider' | 'server' | 'rate-limit';
}

export interface RunView {
  id: string;
  datasetId: string;
  /** Null for a run that generates new rows. */
  columnId: string | null;
  kind: 'column' | 'rows';
  mode: RunMode | 'rows';
  scope: {
    rowIds: string[] | null;
    fromRowId: string | null;
    toRowId: string | null;
    includeValidated: boolean;
    includeDownstream: boolean;
    fresh: boolean;
  };
  status: RunStatus;
  /** Of a completed run: `done`, or `errors` when some cells failed ("Finished with N errors"). */
  outcome: 'done' | 'errors' | null;
  pauseReason: 'user' | 'budget' | null;
  /** Set while a rate-limited run waits to resume by itself. */
  waiting: RunWaitingView | null;
  /** Calls in flight allowed, and which limit sets it (only while this server executes it). */
  concurrency: RunConcurrencyView | null;
  processVersion: number | null;
  estimate: RunEstimateView | null;
  progress: {
    total: number;
    done: number;
    errors: number;
    conflicts: number;
    processed: number;
    cacheHits: number;
    searchFailures: number;
    duplicates: number;
    inputTokens: number;
    outputTokens: number;
    costNano: number;
    inFlight: number;
    cellsPerSecond: number;
    etaSeconds: number | null;
  };
  error: { code: string; message: string; details?: unknown } | null;
  parentRunId: string | null;
  createdBy: string | null;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string | null;
}

/** The `run-progress` event on a dataset's stream (a subset of RunView, flat). */
export interface RunProgressEventView {
  runId: string;
  /** Absent or null for a run that generates new rows. */
  columnId?: string | null;
  status: RunStatus;
  total: number;
  done: number;
  errors: number;
  /** Absent on runs that generate new rows. */
  conflicts?: number;
  costNano?: number;
  cellsPerSecond?: number;
  etaSeconds?: number | null;
  inFlight?: number;
  /** Null when the run is not waiting; absent on events that do not say. */
  waiting?: RunWaitingView | null;
}

/** How a generated cell was made, and whether it is up to date. */
export interface ProvenanceView extends CellStateFields {
  rowId: string;
  columnId: string;
  value: unknown;
  status: string;
  sources: { url?: unknown; title?: unknown; snippet?: unknown }[];
  /** Whether the cell was made by the current prompt version from the current inputs. */
  current: { processVersion: number; upToDate: boolean };
}

/** A draft prompt rendered for the first rows, without calling a model. */
export interface PromptPreviewView {
  rows: {
    rowId: string;
    /** 1-based, in row order. */
    position: number;
    messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
    /** Referenced columns that are empty in this row (they render as nothing). */
    missingColumns: string[];
  }[];
  /** What a run adds that the preview leaves out. */
  omitted: ('few-shot-examples' | 'search-results' | 'variety-note')[];
}
