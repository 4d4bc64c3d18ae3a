import type {
  BulkEditResultView,
  CellStatus,
  CellValue,
  CellView,
  ColumnType,
  ColumnView,
  DatasetEventViews,
  DatasetView,
  ExportFormat,
  RowView,
  RowWindowView,
  SqlResultView,
} from '../../../src/shared/api-types.ts';
import { api, buildUrl } from './api-client.ts';

// The wire shapes come from the server's shared module (its presenters are typed with them).
export {
  CELL_STATUSES,
  type CellStatus,
  type CellValue,
  COLUMN_KINDS,
  COLUMN_TYPES,
  type ColumnKind,
  type ColumnType,
  EXPORT_FORMATS,
  type ExportFormat,
} from '../../../src/shared/api-types.ts';

export type Column = ColumnView;
export type Dataset = DatasetView;
export type Cell = CellView;
export type Row = RowView;
export type RowWindow = RowWindowView;
export type BulkEditResult = BulkEditResultView;
export type SqlResult = SqlResultView;
/** A dataset stream event's data, by event name. */
export type DatasetEvents = DatasetEventViews;

export interface BulkCellEdit {
  rowId: string;
  columnId: string;
  value: CellValue;
  expectedVersion?: number;
}

export type Filter =
  | { columnId: string; op: 'equals'; value: CellValue }
  | { columnId: string; op: 'contains'; value: string }
  | { columnId: string; op: 'empty' }
  | { columnId: string; op: 'not-empty' }
  | { columnId: string; op: 'range'; min?: number | string; max?: number | string }
  | { columnId: string; op: 'status'; values: CellStatus[] };

export interface Sort {
  columnId: string;
  direction: 'asc' | 'desc';
}

export interface WindowQuery {
  offset: number;
  limit: number;
  /** Rows after this row id, in the default order (the answer's offset is where they are). */
  afterRowId?: string;
  sort?: Sort[];
  filters?: Filter[];
  search?: string;
  columns?: string[];
}

/** The CSV dialect an import reads with (the options it will use, not a first guess). */
export interface ImportDialect {
  delimiter: string;
  quote: string;
  escape: string;
  header: boolean;
  encoding: string;
  relaxedQuotes?: boolean;
  /** strftime formats the read passes; null: DuckDB's own parser (ISO dates and timestamps). */
  dateFormat?: string | null;
  timestampFormat?: string | null;
}

export interface ImportWarning {
  code: string;
  message: string;
  lines?: number[];
}

export interface ImportPreview {
  format: string;
  encoding: string | null;
  dialect: ImportDialect | null;
  warnings?: ImportWarning[];
  sheets: string[] | null;
  columns: { source: string; sqlType: string; inferredType: ColumnType }[];
  sample: Record<string, unknown>[];
  rejectedBeforeRead: number;
}

export interface ImportInfo {
  id: string;
  projectId: string;
  datasetId: string | null;
  source: string;
  displayName: string;
  format: string | null;
  status: 'uploaded' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | string;
  preview: ImportPreview | null;
  sizeBytes: number | null;
  rowsImported: number | null;
  bytesRead: number | null;
  rowsRejected: number | null;
  rejects: unknown;
  /** Per column, cells that did not convert to its type (status error, source text in raw). */
  conversions: { columnId: string; column: string; type: string; failed: number }[] | null;
  error: unknown;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ImportProgress {
  importId: string;
  phase: 'download' | 'prepare' | 'read' | 'finish';
  percentage: number;
  bytes: number;
  rows: number | null;
  rowsPerSecond: number | null;
  elapsedMs: number;
}

export interface ImportOptions {
  name?: string;
  format?: string;
  columns?: { source: string; name?: string; type?: ColumnType; include?: boolean }[];
  csv?: { header?: boolean; relaxedQuotes?: boolean; delimiter?: string; quote?: string };
}

const enc = encodeURIComponent;
export const datasetsPath = (projectId: string) => `/api/projects/${enc(projectId)}/datasets`;
export const datasetPath = (projectId: string, datasetId: string) =>
  `${datasetsPath(projectId)}/${enc(datasetId)}`;
const importsPath = (projectId: string) => `/api/projects/${enc(projectId)}/imports`;

export const sheetApi = {
  list: (projectId: string, deleted = false) =>
    api<{ items: Dataset[] }>(datasetsPath(projectId), {
      query: deleted ? { deleted: 'true' } : {},
    }),
  create: (
    projectId: string,
    input: { name: string; rows?: number; columns?: { name: string; type: ColumnType }[] },
  ) => api<Dataset>(datasetsPath(projectId), { method: 'POST', body: input }),
  get: (projectId: string, datasetId: string) => api<Dataset>(datasetPath(projectId, datasetId)),
  rename: (projectId: string, datasetId: string, name: string) =>
    api<Dataset>(datasetPath(projectId, datasetId), { method: 'PATCH', body: { name } }),
  remove: (projectId: string, datasetId: string) =>
    api<void>(datasetPath(projectId, datasetId), { method: 'DELETE' }),
  restore: (projectId: string, datasetId: string) =>
    api<Dataset>(`${datasetPath(projectId, datasetId)}/restore`, { method: 'POST' }),
  duplicate: (projectId: string, datasetId: string, name?: string) =>
    api<Dataset>(`${datasetPath(projectId, datasetId)}/duplicate`, {
      method: 'POST',
      body: name ? { name } : {},
    }),

  addColumn: (
    projectId: string,
    datasetId: string,
    input: { name: string; type: ColumnType; formula?: string; position?: number },
  ) => api<Column>(`${datasetPath(projectId, datasetId)}/columns`, { method: 'POST', body: input }),
  updateColumn: (
    projectId: string,
    datasetId: string,
    columnId: string,
    input: { name?: string; type?: ColumnType; hidden?: boolean; formula?: string },
  ) =>
    api<Column>(`${datasetPath(projectId, datasetId)}/columns/${enc(columnId)}`, {
      method: 'PATCH',
      body: input,
    }),
  /** `force`: delete a column AI columns read (their prompts then need an edit). */
  deleteColumn: (projectId: string, datasetId: string, columnId: string, force = false) =>
    api<void>(`${datasetPath(projectId, datasetId)}/columns/${enc(columnId)}`, {
      method: 'DELETE',
      query: force ? { force: 'true' } : {},
    }),
  reorderColumns: (projectId: string, datasetId: string, columnIds: string[]) =>
    api<{ items: Column[] }>(`${datasetPath(projectId, datasetId)}/columns/order`, {
      method: 'PUT',
      body: { columnIds },
    }),

  window: (projectId: string, datasetId: string, query: WindowQuery, signal?: AbortSignal) =>
    api<RowWindow>(`${datasetPath(projectId, datasetId)}/rows/query`, {
      method: 'POST',
      body: query,
      ...(signal ? { signal } : {}),
    }),
  appendRows: (projectId: string, datasetId: string, rows: Record<string, CellValue>[]) =>
    api<{ rowIds: string[] }>(`${datasetPath(projectId, datasetId)}/rows`, {
      method: 'POST',
      body: { rows },
    }),
  deleteRows: (projectId: string, datasetId: string, rowIds: string[]) =>
    api<{ deleted: number }>(`${datasetPath(projectId, datasetId)}/rows/delete`, {
      method: 'POST',
      body: { rowIds },
    }),
  editCell: (
    projectId: string,
    datasetId: string,
    input: {
      rowId: string;
      columnId: string;
      expectedVersion: number;
      value?: CellValue;
      validated?: boolean;
    },
  ) =>
    api<Cell & { rowId: string; columnId: string }>(`${datasetPath(projectId, datasetId)}/cells`, {
      method: 'PATCH',
      body: input,
    }),
  /** A paste: up to 10,000 cells in one transaction; stale cells come back in `conflicts`. */
  editCells: (projectId: string, datasetId: string, cells: BulkCellEdit[]) =>
    api<BulkEditResult>(`${datasetPath(projectId, datasetId)}/cells/bulk`, {
      method: 'PATCH',
      body: { cells },
    }),
  sql: (projectId: string, datasetId: string, sql: string) =>
    api<SqlResult>(`${datasetPath(projectId, datasetId)}/sql`, { method: 'POST', body: { sql } }),
  exportUrl: (projectId: string, datasetId: string, format: ExportFormat, metadata = false) =>
    buildUrl(`${datasetPath(projectId, datasetId)}/export`, {
      format,
      metadata: metadata ? 'true' : 'false',
    }),
  eventsUrl: (projectId: string, datasetId: string, lastEventId?: number) =>
    buildUrl(`${datasetPath(projectId, datasetId)}/events`, { lastEventId }),

  uploadUrl: (projectId: string, name?: string) => buildUrl(importsPath(projectId), { name }),
  importFromUrl: (projectId: string, url: string, options?: ImportOptions) =>
    api<ImportInfo>(`${importsPath(projectId)}/url`, {
      method: 'POST',
      body: { url, ...(options ? { options } : {}) },
    }),
  importFromHub: (
    projectId: string,
    input: { repo: string; file: string; revision?: string; options?: ImportOptions },
  ) => api<ImportInfo>(`${importsPath(projectId)}/hub`, { method: 'POST', body: input }),
  getImport: (projectId: string, importId: string) =>
    api<ImportInfo>(`${importsPath(projectId)}/${enc(importId)}`),
  /** Previews an upload again with options (kept for its start). */
  previewImport: (projectId: string, importId: string, options: ImportOptions) =>
    api<ImportInfo>(`${importsPath(projectId)}/${enc(importId)}/preview`, {
      method: 'POST',
      body: options,
    }),
  startImport: (projectId: string, importId: string, options: ImportOptions) =>
    api<ImportInfo>(`${importsPath(projectId)}/${enc(importId)}/start`, {
      method: 'POST',
      body: options,
    }),
  cancelImport: (projectId: string, importId: string) =>
    api<ImportInfo>(`${importsPath(projectId)}/${enc(importId)}/cancel`, { method: 'POST' }),
  importEventsUrl: (projectId: string, importId: string) =>
    `${importsPath(projectId)}/${enc(importId)}/events`,
};
