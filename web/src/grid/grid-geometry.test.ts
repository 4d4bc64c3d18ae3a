import { describe, expect, it } from 'vitest';
import {
  columnOffsets,
  MAX_SCROLL_HEIGHT,
  offsetToReveal,
  rowOffset,
  scrollTopFor,
  verticalMetrics,
  visibleColumns,
  visibleRows,
} from './grid-geometry.ts';

describe('verticalMetrics', () => {
  it('scrolls 1:1 while the rows fit under the cap', () => {
    expect(verticalMetrics(1_000, 32, 600)).toEqual({
      spacerHeight: 32_000,
      scale: 1,
      contentHeight: 32_000,
    });
  });

  it('scales a million rows into the capped spacer and still reaches the last row', () => {
    const metrics = verticalMetrics(1_000_000, 32, 600);
    expect(metrics.spacerHeight).toBe(MAX_SCROLL_HEIGHT);
    const bottom = rowOffset(MAX_SCROLL_HEIGHT - 600, metrics);
    expect(visibleRows(bottom, 600, 32, 1_000_000).last).toBe(999_999);
    expect(scrollTopFor(rowOffset(1234, metrics), metrics)).toBeCloseTo(1234);
  });
});

describe('visibleRows', () => {
  it('covers the viewport and clamps at the ends', () => {
    expect(visibleRows(0, 100, 32, 10)).toEqual({ first: 0, last: 3 });
    expect(visibleRows(64, 64, 32, 10)).toEqual({ first: 2, last: 3 });
    expect(visibleRows(1_000, 100, 32, 10)).toEqual({ first: 9, last: 9 });
    expect(visibleRows(0, 100, 32, 0)).toEqual({ first: 0, last: -1 });
  });
});

describe('offsetToReveal', () => {
  it('moves only as far as needed', () => {
    expect(offsetToReveal(5, 0, 320, 32)).toBeUndefined();
    expect(offsetToReveal(20, 0, 320, 32)).toBe(21 * 32 - 320);
    expect(offsetToReveal(2, 320, 320, 32)).toBe(64);
  });
});

describe('columns', () => {
  it('finds the columns in view with overscan', () => {
    const widths = [100, 100, 100, 100, 100];
    const { lefts, total } = columnOffsets(widths);
    expect(total).toBe(500);
    expect(visibleColumns(lefts, widths, 150, 100, 0)).toEqual({ first: 1, last: 2 });
    expect(visibleColumns(lefts, widths, 150, 100, 1)).toEqual({ first: 0, last: 3 });
  });
});
