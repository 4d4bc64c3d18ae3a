/**
 * Pixel arithmetic of the virtual grid. Browsers cap an element's height (Chrome near 33.5M px,
 * Firefox near 17.9M), so a tall dataset scrolls a shorter spacer and each scrolled pixel moves
 * `scale` pixels of rows. Pure functions, tested in grid-geometry.test.ts.
 */
export const MAX_SCROLL_HEIGHT = 8_000_000;

export interface VerticalMetrics {
  /** Height of the scrolled spacer (≤ MAX_SCROLL_HEIGHT). */
  spacerHeight: number;
  /** Row pixels per scrolled pixel (1 unless the dataset is taller than the cap). */
  scale: number;
  /** Full height of all rows. */
  contentHeight: number;
}

export function verticalMetrics(
  total: number,
  rowHeight: number,
  viewportHeight: number,
): VerticalMetrics {
  const contentHeight = total * rowHeight;
  if (contentHeight <= MAX_SCROLL_HEIGHT)
    return { spacerHeight: contentHeight, scale: 1, contentHeight };
  const scrollable = Math.max(1, MAX_SCROLL_HEIGHT - viewportHeight);
  return {
    spacerHeight: MAX_SCROLL_HEIGHT,
    scale: Math.max(1, (contentHeight - viewportHeight) / scrollable),
    contentHeight,
  };
}

/** Pixels of rows above the viewport for a scroll position. */
export const rowOffset = (scrollTop: number, metrics: VerticalMetrics) => scrollTop * metrics.scale;

/** The scroll position that shows row pixel offset `offset` at the top. */
export const scrollTopFor = (offset: number, metrics: VerticalMetrics) => offset / metrics.scale;

export interface RowRange {
  first: number;
  last: number;
}

export function visibleRows(
  offset: number,
  viewportHeight: number,
  rowHeight: number,
  total: number,
): RowRange {
  if (total === 0) return { first: 0, last: -1 };
  const first = Math.max(0, Math.min(total - 1, Math.floor(offset / rowHeight)));
  const last = Math.max(
    first,
    Math.min(total - 1, Math.ceil((offset + viewportHeight) / rowHeight) - 1),
  );
  return { first, last };
}

/** The offset that brings `index` into view with the least movement (undefined if visible). */
export function offsetToReveal(
  index: number,
  offset: number,
  viewportHeight: number,
  rowHeight: number,
): number | undefined {
  const top = index * rowHeight;
  if (top < offset) return top;
  if (top + rowHeight > offset + viewportHeight) return top + rowHeight - viewportHeight;
  return undefined;
}

/** Left edge of each column and the total width. */
export function columnOffsets(widths: readonly number[]): { lefts: number[]; total: number } {
  const lefts: number[] = [];
  let x = 0;
  for (const width of widths) {
    lefts.push(x);
    x += width;
  }
  return { lefts, total: x };
}

/** Columns (indexes) intersecting [scrollLeft, scrollLeft + width], plus `overscan` each side. */
export function visibleColumns(
  lefts: readonly number[],
  widths: readonly number[],
  scrollLeft: number,
  width: number,
  overscan = 1,
): RowRange {
  if (lefts.length === 0) return { first: 0, last: -1 };
  let first = 0;
  while (first < lefts.length - 1 && lefts[first]! + widths[first]! <= scrollLeft) first++;
  let last = first;
  while (last < lefts.length - 1 && lefts[last + 1]! < scrollLeft + width) last++;
  return {
    first: Math.max(0, first - overscan),
    last: Math.min(lefts.length - 1, last + overscan),
  };
}
