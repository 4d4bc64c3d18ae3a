import type { Column } from '../api/sheet-api.ts';

export const ROW_HEIGHT = 34;
export const HEADER_HEIGHT = 36;
export const GUTTER_WIDTH = 72;

/** A cell position in the view: row position (0-based, in the current order) and column index. */
export interface CellPosition {
  row: number;
  col: number;
}

/** A rectangular selection between the anchor (where it started) and the focus (active cell). */
export interface Selection {
  anchor: CellPosition;
  focus: CellPosition;
}

export interface GridColumn extends Column {
  width: number;
  markdown: boolean;
  images: boolean;
  /** Text shown as an HTML preview in a sandboxed frame. */
  html: boolean;
  /** A run is working on this (AI) column: its pending cells are queued, not forgotten. */
  generating?: boolean;
}

export const selectionBounds = (selection: Selection) => ({
  top: Math.min(selection.anchor.row, selection.focus.row),
  bottom: Math.max(selection.anchor.row, selection.focus.row),
  left: Math.min(selection.anchor.col, selection.focus.col),
  right: Math.max(selection.anchor.col, selection.focus.col),
});

export const cellDomId = (gridId: string, row: number, col: number) => `${gridId}-r${row}-c${col}`;
