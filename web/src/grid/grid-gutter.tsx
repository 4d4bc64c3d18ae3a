import { memo, type Ref } from 'react';

interface GridGutterProps {
  first: number;
  last: number;
  anchor: number;
  /** Rows selected whole (their numbers are highlighted), or an empty range. */
  selectedTop: number;
  selectedBottom: number;
  innerRef: Ref<HTMLDivElement>;
  rowHeight: number;
}

/**
 * The row numbers: one column that sticks to the left edge while the grid scrolls sideways.
 * One sticky element for all rows — a sticky cell in every row costs the browser a layout
 * and paint per row on each frame of live updates. Click a number to select its row.
 */
export const GridGutter = memo(function GridGutter({
  first,
  last,
  anchor,
  selectedTop,
  selectedBottom,
  innerRef,
  rowHeight,
}: GridGutterProps) {
  const numbers = [];
  for (let index = first; index <= last; index++) {
    const selected = index >= selectedTop && index <= selectedBottom;
    numbers.push(
      <div
        key={index}
        className={selected ? 'grid-gutter row-selected' : 'grid-gutter'}
        data-row={index}
        data-gutter="true"
        style={{ transform: `translateY(${(index - anchor) * rowHeight}px)` }}
      >
        {index + 1}
      </div>,
    );
  }
  return (
    <div className="grid-gutter-layer" aria-hidden="true">
      <div ref={innerRef} className="grid-gutter-inner">
        {numbers}
      </div>
    </div>
  );
});
