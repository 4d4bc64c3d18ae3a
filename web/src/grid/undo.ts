import type { Cell, CellValue, Column, Row } from '../api/sheet-api.ts';

/** A cell as it was before one of our writes, and the version that write gave it. */
export interface CellBefore {
  rowId: string;
  ordinal: number;
  columnId: string;
  value: CellValue;
  validated: boolean;
  /** Undo writes back only if the cell is still at this version (compare-and-set). */
  versionAfter: number;
}

/**
 * One undoable change. Cells are restored through the normal compare-and-set edit (a cell
 * someone changed since is reported, not overwritten); deleted rows are re-created from the
 * values the grid had loaded (new row ids, at the end).
 */
export type UndoEntry =
  | { kind: 'cells'; label: string; cells: CellBefore[] }
  | { kind: 'rows'; label: string; rows: Row[] };

/** How many changes Ctrl+Z can walk back. */
export const MAX_UNDO = 50;
/** A row delete larger than this is not undoable (its values would be a large upload). */
export const MAX_UNDO_ROWS = 10_000;

export function pushUndo(stack: UndoEntry[], entry: UndoEntry): void {
  if (entry.kind === 'cells' && entry.cells.length === 0) return;
  if (entry.kind === 'rows' && entry.rows.length === 0) return;
  stack.push(entry);
  if (stack.length > MAX_UNDO) stack.splice(0, stack.length - MAX_UNDO);
}

/** What an edit replaced: the cell the user saw before, with the version our save produced. */
export function cellBefore(row: Row, columnId: string, saved: Pick<Cell, 'version'>): CellBefore {
  const previous = row.cells[columnId];
  return {
    rowId: row.rowId,
    ordinal: row.ordinal,
    columnId,
    value: previous?.value ?? null,
    validated: previous?.validated ?? false,
    versionAfter: saved.version,
  };
}

/**
 * Values to re-create deleted rows: static columns go with the append (keyed by column id);
 * AI columns' values are written afterwards as edits (the append does not take them).
 * Formula columns are recomputed by the server, so they are left out.
 */
export function rowsToRecreate(
  rows: readonly Row[],
  columns: readonly Pick<Column, 'id' | 'kind'>[],
): {
  append: Record<string, CellValue>[];
  later: { index: number; columnId: string; value: CellValue }[];
} {
  const append: Record<string, CellValue>[] = [];
  const later: { index: number; columnId: string; value: CellValue }[] = [];
  rows.forEach((row, index) => {
    const values: Record<string, CellValue> = {};
    for (const column of columns) {
      const value = row.cells[column.id]?.value ?? null;
      if (column.kind === 'static') values[column.id] = value;
      else if (column.kind === 'ai' && value !== null)
        later.push({ index, columnId: column.id, value });
    }
    append.push(values);
  });
  return { append, later };
}
