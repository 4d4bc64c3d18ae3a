import { isoOrNull as iso } from '../platform/iso-time.ts';
import type {
  BulkEditResultView,
  CellUpdateView,
  CellView,
  ColumnView,
  DatasetEventViews,
  DatasetView,
  EditedCellView,
  RowView,
  RowWindowView,
} from '../shared/api-types.ts';
import type { CellRecord, RowRecord } from './sheet-cell-record.ts';
import { displayFormula } from './sheet-formula.ts';
import type { ColumnRow, DatasetRow, ImportRow } from './sheet-store.ts';

/**
 * Every field that leaves the server, listed: nothing leaks by accident. Routes call these on
 * what the use cases return, and the dataset stream's events pass through `presentDatasetEvent`
 * when published; the wire shapes are the shared ones in src/shared/api-types.ts.
 */

export function presentColumn(column: ColumnRow, all: readonly ColumnRow[]): ColumnView {
  return {
    id: column.id,
    name: column.name,
    type: column.type,
    kind: column.kind,
    formula: column.formula === null ? null : displayFormula(column.formula, all),
    position: column.position,
    hidden: column.hidden,
  };
}

export const presentColumns = (columns: readonly ColumnRow[]) =>
  columns.map((column) => presentColumn(column, columns));

/** A dataset with its columns and its row count (null while not ready or deleted). */
export interface DatasetRecord extends DatasetRow {
  columns: readonly ColumnRow[];
  rowCount: number | null;
}

export function presentDataset(dataset: DatasetRecord): DatasetView {
  return {
    id: dataset.id,
    projectId: dataset.project_id,
    name: dataset.name,
    status: dataset.status,
    rowCount: dataset.rowCount,
    columns: presentColumns(dataset.columns),
    createdAt: iso(dataset.created_at),
    updatedAt: iso(dataset.updated_at),
    deletedAt: iso(dataset.deleted_at),
    purgeAfter: iso(dataset.purge_after),
  };
}

/** A cell as clients see it: the generation internals (input and prompt hashes) stay here. */
export function presentCell(cell: CellRecord): CellView {
  return {
    value: cell.value,
    status: cell.status,
    version: cell.version,
    validated: cell.validated,
    error: cell.error,
    raw: cell.raw,
    model: cell.model,
    inputTokens: cell.inputTokens,
    outputTokens: cell.outputTokens,
    costNanoUsd: cell.costNanoUsd,
    latencyMs: cell.latencyMs,
    attempts: cell.attempts,
    sources: cell.sources,
    updatedAt: cell.updatedAt,
  };
}

export const presentCellUpdate = (update: { rowId: string; cell: CellRecord }): CellUpdateView => ({
  rowId: update.rowId,
  ...presentCell(update.cell),
});

/** The answer to a cell edit: the cell with where it is. */
export const presentEditedCell = (
  cell: CellRecord & { rowId: string; columnId: string },
): EditedCellView => ({ rowId: cell.rowId, columnId: cell.columnId, ...presentCell(cell) });

export const presentBulkEdit = (result: {
  cells: readonly (CellRecord & { rowId: string; columnId: string })[];
  conflicts: readonly { index: number; rowId: string; columnId: string; current: CellRecord }[];
}): BulkEditResultView => ({
  cells: result.cells.map(presentEditedCell),
  conflicts: result.conflicts.map((lost) => ({
    index: lost.index,
    rowId: lost.rowId,
    columnId: lost.columnId,
    current: presentCell(lost.current),
  })),
});

export function presentRow(row: RowRecord): RowView {
  const cells: Record<string, CellView> = {};
  for (const [columnId, cell] of Object.entries(row.cells)) cells[columnId] = presentCell(cell);
  return { rowId: row.rowId, ordinal: row.ordinal, cells };
}

export const presentWindow = (window: {
  total: number;
  offset: number;
  rows: readonly RowRecord[];
  lastEventId: number;
}): RowWindowView => ({
  total: window.total,
  offset: window.offset,
  rows: window.rows.map(presentRow),
  lastEventId: window.lastEventId,
});

/** A change of a dataset, as the use cases publish it on the dataset's stream. */
export type DatasetEvent =
  | {
      type: 'cells-update';
      columnId: string;
      cells: readonly { rowId: string; cell: CellRecord }[];
    }
  | { type: 'columns-change'; columns: readonly ColumnRow[] }
  | { type: 'dataset-change'; name: string }
  | { type: 'dataset-delete'; id: string }
  | { type: 'rows-append'; rowIds: string[] }
  | { type: 'rows-delete'; rowIds: string[] };

/** The one place a dataset event becomes the payload clients receive. */
export function presentDatasetEvent(
  event: DatasetEvent,
): DatasetEventViews[keyof DatasetEventViews] {
  switch (event.type) {
    case 'cells-update':
      return { columnId: event.columnId, cells: event.cells.map(presentCellUpdate) };
    case 'columns-change':
      return { columns: presentColumns(event.columns) };
    case 'dataset-change':
      return { name: event.name };
    case 'dataset-delete':
      return { id: event.id };
    case 'rows-append':
    case 'rows-delete':
      return { rowIds: event.rowIds };
  }
}

export function presentImport(row: ImportRow) {
  return {
    id: row.id,
    projectId: row.project_id,
    datasetId: row.dataset_id,
    source: row.source,
    displayName: row.display_name,
    format: row.format,
    status: row.status,
    options: row.options,
    preview: row.preview,
    sizeBytes: row.size_bytes,
    rowsImported: row.rows_imported,
    bytesRead: row.bytes_read,
    rowsRejected: row.rows_rejected,
    rejects: row.rejects,
    conversions: row.conversions,
    error: row.error,
    createdAt: iso(row.created_at),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
}
