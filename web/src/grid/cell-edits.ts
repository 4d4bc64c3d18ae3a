import { isApiError } from '../api/api-client.ts';
import type { Cell, CellValue, Row } from '../api/sheet-api.ts';
import { sheetApi } from '../api/sheet-api.ts';
import type { RowCache } from './row-cache.ts';

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

/** Runs tasks with at most `limit` at once (paste and clear send one request per cell). */
export async function runLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
