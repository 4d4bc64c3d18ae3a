import { isApiError } from '../api/api-client.ts';
import type { Cell, CellValue, Column, Row } from '../api/sheet-api.ts';
import { sheetApi } from '../api/sheet-api.ts';
import type { RowCache } from './row-cache.ts';
import { type CellBefore, rowsToRecreate } from './undo.ts';

export type EditOutcome = { status: 'saved'; cell: Cell } | { status: 'conflict'; theirs: Cell };

/**
 * Saves one cell with compare-and-set on the version the user saw. A 409 comes back as
 * `conflict` with the server's current cell (it changed meanwhile); anything else throws.
 */
export async function saveCell(
  cache: RowCache,
  target: { projectId: string; datasetId: string; row: Row; columnId: string },
  change: { value?: CellValue; validated?: boolean; expectedVersion?: number },
): Promise<EditOutcome> {
  const current = target.row.cells[target.columnId];
  try {
    const result = await sheetApi.editCell(target.projectId, target.datasetId, {
      rowId: target.row.rowId,
      columnId: target.columnId,
      expectedVersion: change.expectedVersion ?? current?.version ?? 0,
      ...(change.value === undefined ? {} : { value: change.value }),
      ...(change.validated === undefined ? {} : { validated: change.validated }),
    });
    const { rowId, columnId, ...cell } = result;
    cache.applyCells(columnId, [{ rowId, ...cell }]);
    return { status: 'saved', cell };
  } catch (error) {
    const theirs = (error as { details?: { current?: Cell } }).details?.current;
    if (isApiError(error, 'CONFLICT') && theirs) {
      cache.applyCells(target.columnId, [{ rowId: target.row.rowId, ...theirs }]);
      return { status: 'conflict', theirs };
    }
    throw error;
  }
}

/** The server takes at most this many cells per bulk request. */
export const MAX_CELLS_PER_REQUEST = 10_000;
/** Keeps each request well under the bulk route's body limit (8 MiB). */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const encoder = new TextEncoder();

export interface CellWriteRequest {
  row: Row;
  columnId: string;
  value: CellValue;
}

export interface BulkOutcome {
  saved: number;
  /** The cells written, with their state after the write (what undo needs). */
  written: { write: CellWriteRequest; cell: Cell }[];
  /** Cells someone else changed since they were read: left as theirs (now in the cache). */
  conflicts: { write: CellWriteRequest; theirs: Cell }[];
  /** Cells of requests that failed (nothing of such a request was written). */
  failed: number;
  error?: unknown;
}

/** Splits writes into requests under the cell cap and the body size limit. */
export function chunkWrites<T extends { value: CellValue }>(writes: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const write of writes) {
    // rowId, columnId, version and JSON punctuation take about 100 bytes per cell.
    const size = 100 + encoder.encode(JSON.stringify(write.value ?? null)).length;
    if (
      chunk.length > 0 &&
      (chunk.length >= MAX_CELLS_PER_REQUEST || bytes + size > MAX_REQUEST_BYTES)
    ) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(write);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * Saves many cells (a paste, a clear) through the bulk endpoint: each request is one
 * transaction; every cell is compared with the version the user saw, and the cells someone
 * changed meanwhile come back as conflicts (their value shown) while the rest are saved.
 */
export async function saveCells(
  cache: RowCache,
  target: { projectId: string; datasetId: string },
  writes: readonly CellWriteRequest[],
): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { saved: 0, written: [], conflicts: [], failed: 0 };
  for (const chunk of chunkWrites(writes)) {
    try {
      const result = await sheetApi.editCells(
        target.projectId,
        target.datasetId,
        chunk.map((write) => ({
          rowId: write.row.rowId,
          columnId: write.columnId,
          value: write.value,
          expectedVersion: write.row.cells[write.columnId]?.version ?? 0,
        })),
      );
      const byColumn = new Map<string, (Cell & { rowId: string })[]>();
      const add = (columnId: string, cell: Cell & { rowId: string }) => {
        const list = byColumn.get(columnId) ?? [];
        list.push(cell);
        byColumn.set(columnId, list);
      };
      const byKey = new Map(chunk.map((write) => [`${write.row.rowId}:${write.columnId}`, write]));
      for (const { columnId, ...cell } of result.cells) {
        add(columnId, cell);
        const write = byKey.get(`${cell.rowId}:${columnId}`);
        if (write) outcome.written.push({ write, cell });
      }
      for (const conflict of result.conflicts) {
        add(conflict.columnId, { rowId: conflict.rowId, ...conflict.current });
        outcome.conflicts.push({ write: chunk[conflict.index]!, theirs: conflict.current });
      }
      for (const [columnId, cells] of byColumn) cache.applyCells(columnId, cells);
      outcome.saved += result.cells.length;
    } catch (error) {
      outcome.failed += chunk.length;
      outcome.error ??= error;
    }
  }
  return outcome;
}

export interface RestoreOutcome {
  restored: number;
  /** Cells changed by someone (or something) since our edit: left as they are now. */
  conflicts: { cell: CellBefore; current: Cell }[];
  failed: number;
  error?: unknown;
}

/**
 * Undo of cell writes: puts each cell's earlier value back with compare-and-set on the
 * version our write gave it, so a cell changed since keeps its newer value and is reported.
 * One cell also gets its validated mark back; through the bulk route restored cells count as
 * user edits (validated), which is what that route records.
 */
export async function restoreCells(
  cache: RowCache,
  target: { projectId: string; datasetId: string },
  cells: readonly CellBefore[],
): Promise<RestoreOutcome> {
  const outcome: RestoreOutcome = { restored: 0, conflicts: [], failed: 0 };
  if (cells.length === 1) {
    const cell = cells[0]!;
    try {
      const result = await sheetApi.editCell(target.projectId, target.datasetId, {
        rowId: cell.rowId,
        columnId: cell.columnId,
        expectedVersion: cell.versionAfter,
        value: cell.value,
        validated: cell.validated,
      });
      const { rowId, columnId, ...state } = result;
      cache.applyCells(columnId, [{ rowId, ...state }]);
      outcome.restored = 1;
    } catch (error) {
      const current = (error as { details?: { current?: Cell } }).details?.current;
      if (isApiError(error, 'CONFLICT') && current) {
        cache.applyCells(cell.columnId, [{ rowId: cell.rowId, ...current }]);
        outcome.conflicts.push({ cell, current });
      } else {
        outcome.failed = 1;
        outcome.error = error;
      }
    }
    return outcome;
  }
  for (const chunk of chunkWrites(cells)) {
    try {
      const result = await sheetApi.editCells(
        target.projectId,
        target.datasetId,
        chunk.map((cell) => ({
          rowId: cell.rowId,
          columnId: cell.columnId,
          value: cell.value,
          expectedVersion: cell.versionAfter,
        })),
      );
      const byColumn = new Map<string, (Cell & { rowId: string })[]>();
      const add = (columnId: string, cell: Cell & { rowId: string }) => {
        const list = byColumn.get(columnId) ?? [];
        list.push(cell);
        byColumn.set(columnId, list);
      };
      for (const { columnId, ...cell } of result.cells) add(columnId, cell);
      for (const conflict of result.conflicts) {
        add(conflict.columnId, { rowId: conflict.rowId, ...conflict.current });
        outcome.conflicts.push({ cell: chunk[conflict.index]!, current: conflict.current });
      }
      for (const [columnId, list] of byColumn) cache.applyCells(columnId, list);
      outcome.restored += result.cells.length;
    } catch (error) {
      outcome.failed += chunk.length;
      outcome.error ??= error;
    }
  }
  return outcome;
}

/** Rows re-created per append request (the route takes at most 10,000). */
const RECREATE_ROWS_PER_REQUEST = 1_000;

/**
 * Undo of a row delete: appends rows with the deleted rows' values (static columns), then
 * writes their AI columns' values as edits. The rows come back at the end with new ids;
 * formula columns are recomputed; AI cells' model, tokens, cost and sources are not restored.
 * Returns how many rows were re-created.
 */
export async function recreateRows(
  target: { projectId: string; datasetId: string },
  rows: readonly Row[],
  columns: readonly Pick<Column, 'id' | 'kind'>[],
): Promise<number> {
  let created = 0;
  for (let start = 0; start < rows.length; start += RECREATE_ROWS_PER_REQUEST) {
    const part = rows.slice(start, start + RECREATE_ROWS_PER_REQUEST);
    const { append, later } = rowsToRecreate(part, columns);
    const { rowIds } = await sheetApi.appendRows(target.projectId, target.datasetId, append);
    created += rowIds.length;
    const edits = later.map((item) => ({
      rowId: rowIds[item.index]!,
      columnId: item.columnId,
      value: item.value,
    }));
    for (const chunk of chunkWrites(edits))
      await sheetApi.editCells(target.projectId, target.datasetId, chunk);
  }
  return created;
}
