import type { CellState } from './sheet-cells.ts';
import type { CellRead, RowRead } from './sheet-data-store.ts';
import { displayFormula } from './sheet-formula.ts';
import type { ColumnKind } from './sheet-schema.ts';
import type { ColumnRow, DatasetRow, ImportRow } from './sheet-store.ts';

/** Every field that leaves the server, listed: nothing leaks by accident. */
const iso = (value: unknown) =>
  value === null || value === undefined ? null : new Date(value as Date | string).toISOString();

export function presentColumn(column: ColumnRow, all: readonly ColumnRow[]) {
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

export function presentDataset(
  dataset: DatasetRow,
  columns: readonly ColumnRow[],
  rowCount: number | null,
) {
  return {
    id: dataset.id,
    projectId: dataset.project_id,
    name: dataset.name,
    status: dataset.status,
    rowCount,
    columns: columns.map((column) => presentColumn(column, columns)),
    createdAt: iso(dataset.created_at),
    updatedAt: iso(dataset.updated_at),
    deletedAt: iso(dataset.deleted_at),
    purgeAfter: iso(dataset.purge_after),
  };
}

/** A cell never written has no status of its own: static/formula cells are done, AI cells pending. */
export function presentCellState(state: CellState, kind: ColumnKind) {
  let sources: unknown = null;
  if (state.sources) {
    try {
      sources = JSON.parse(state.sources);
    } catch {
      sources = null;
    }
  }
  return {
    status: state.status ?? (kind === 'ai' ? 'pending' : 'done'),
    version: state.version,
    validated: state.validated,
    error: state.error,
    raw: state.raw,
    model: state.model,
    inputHash: state.inputHash,
    promptHash: state.promptHash,
    inputTokens: state.inputTokens,
    outputTokens: state.outputTokens,
    costNanoUsd: state.costNanoUsd,
    latencyMs: state.latencyMs,
    attempts: state.attempts,
    sources,
    updatedAt: state.updatedAt,
  };
}

export function presentCell(cell: CellRead, kind: ColumnKind) {
  return { value: cell.value, ...presentCellState(cell.state, kind) };
}

export function presentRow(row: RowRead, kinds: ReadonlyMap<string, ColumnKind>) {
  const cells: Record<string, ReturnType<typeof presentCell>> = {};
  for (const [columnId, cell] of Object.entries(row.cells))
    cells[columnId] = presentCell(cell, kinds.get(columnId) ?? 'static');
  return { rowId: row.rowId, ordinal: row.ordinal, cells };
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
