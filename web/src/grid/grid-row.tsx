import { memo } from 'react';
import type { Row } from '../api/sheet-api.ts';
import { ThumbUpIcon } from '../ui/icons.tsx';
import { CellContent } from './cell-view.tsx';
import { cellDomId, type GridColumn, GUTTER_WIDTH } from './grid-types.ts';

interface GridRowProps {
  gridId: string;
  index: number;
  /** Row offset from the layer's anchor, in rows. */
  slot: number;
  row: Row | undefined;
  columns: readonly GridColumn[];
  lefts: readonly number[];
  colFirst: number;
  colLast: number;
  totalWidth: number;
  /** Selected column range on this row, if the row is in the selection. */
  selLeft: number;
  selRight: number;
  /** Active column on this row, or -1. */
  activeCol: number;
  rowSelected: boolean;
  /** Room kept free on the active cell's right for its buttons, in pixels. */
  activeInset: number;
  rowHeight: number;
  /** Search text to highlight. */
  search: string;
}

/**
 * One row of visible cells. Memoized: a live update re-renders only the rows whose data
 * changed (the cache replaces a row object when one of its cells changes).
 */
export const GridRow = memo(function GridRow(props: GridRowProps) {
  const {
    gridId,
    index,
    slot,
    row,
    columns,
    lefts,
    colFirst,
    colLast,
    totalWidth,
    selLeft,
    selRight,
    activeCol,
    rowSelected,
    activeInset,
    rowHeight,
    search,
  } = props;
  const cells = [];
  for (let col = colFirst; col <= colLast; col++) {
    const column = columns[col];
    if (!column) continue;
    const cell = row?.cells[column.id];
    const selected = col >= selLeft && col <= selRight;
    let className = 'grid-cell';
    if (column.type === 'integer' || column.type === 'number') className += ' cell-number';
    if (selected) className += ' cell-in-range';
    if (col === activeCol) className += ' cell-active';
    if (cell?.status === 'error') className += ' cell-error';
    else if (cell?.status === 'stale') className += ' cell-stale';
    else if (cell?.status === 'generating') className += ' cell-is-generating';
    if (!row) className += ' cell-loading';
    cells.push(
      <div
        key={column.id}
        role="gridcell"
        id={cellDomId(gridId, index, col)}
        aria-colindex={col + 2}
        aria-selected={selected}
        data-col={col}
        className={className}
        style={{
          left: GUTTER_WIDTH + lefts[col]!,
          width: column.width,
          ...(col === activeCol && activeInset > 0 ? { paddingRight: activeInset } : {}),
        }}
      >
        {row && (
          <CellContent
            cell={cell}
            column={column}
            markdown={column.markdown}
            images={column.images}
            html={column.html}
            search={search}
          />
        )}
        {cell?.validated && (
          <span className="validated-mark" title="Validated">
            <ThumbUpIcon filled />
            <span className="visually-hidden">Validated</span>
          </span>
        )}
        {cell?.status === 'stale' && (
          <span className="stale-mark" title="Inputs changed since this was generated" />
        )}
      </div>,
    );
  }
  return (
    <div
      role="row"
      aria-rowindex={index + 2}
      aria-selected={rowSelected || undefined}
      data-row={index}
      className={rowSelected ? 'grid-row row-selected' : 'grid-row'}
      style={{ transform: `translateY(${slot * rowHeight}px)`, width: GUTTER_WIDTH + totalWidth }}
    >
      {/* The visible row numbers are one sticky column (grid-gutter.tsx); this names the row. */}
      <div role="rowheader" className="visually-hidden">
        Row {index + 1}
      </div>
      {cells}
    </div>
  );
});
