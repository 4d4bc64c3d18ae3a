import type { Row } from '../api/sheet-api.ts';
import type { GridColumn } from './grid-types.ts';

/** Ranges larger than this show their size only (summing them would stall the page). */
export const MAX_STATS_CELLS = 200_000;

export interface SelectionStats {
  /** Cells with a value (not empty, not null). */
  count: number;
  /** Of those, cells of number/integer columns holding a finite number. */
  numeric: number;
  sum: number;
  /** Rows of the range not loaded in the browser (their cells are not counted). */
  missingRows: number;
}

/**
 * Count, sum and (from them) average of a selected range, over the rows the browser holds.
 * Only number and integer columns add to the sum; text is counted.
 */
export function selectionStats(
  rows: readonly (Row | undefined)[],
  columns: readonly GridColumn[],
): SelectionStats {
  const stats: SelectionStats = { count: 0, numeric: 0, sum: 0, missingRows: 0 };
  for (const row of rows) {
    if (!row) {
      stats.missingRows++;
      continue;
    }
    for (const column of columns) {
      const value = row.cells[column.id]?.value;
      if (value === null || value === undefined || value === '') continue;
      stats.count++;
      if (
        (column.type === 'number' || column.type === 'integer') &&
        typeof value === 'number' &&
        Number.isFinite(value)
      ) {
        stats.numeric++;
        stats.sum += value;
      }
    }
  }
  return stats;
}
