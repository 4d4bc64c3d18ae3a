import { describe, expect, it } from 'vitest';
import type { Row } from '../api/sheet-api.ts';
import type { GridColumn } from './grid-types.ts';
import { selectionStats } from './selection-stats.ts';

const column = (id: string, type: GridColumn['type']) =>
  ({ id, name: id, type, width: 100, markdown: false, images: false }) as GridColumn;
const row = (values: Record<string, unknown>): Row =>
  ({
    rowId: Object.values(values).join('-'),
    cells: Object.fromEntries(
      Object.entries(values).map(([id, value]) => [
        id,
        { value, version: 1, validated: false, status: 'done' },
      ]),
    ),
  }) as unknown as Row;

describe('selectionStats', () => {
  it('sums number cells, counts every non-empty cell, skips rows not loaded', () => {
    const columns = [column('name', 'text'), column('age', 'integer')];
    const stats = selectionStats(
      [
        row({ name: 'a', age: 2 }),
        row({ name: '', age: 4.5 }),
        undefined,
        row({ name: 'c', age: null }),
      ],
      columns,
    );
    expect(stats).toEqual({ count: 4, numeric: 2, sum: 6.5, missingRows: 1 });
  });

  it('does not add numbers held by a text column, or non-finite values', () => {
    const stats = selectionStats(
      [row({ t: 5, n: Number.NaN })],
      [column('t', 'text'), column('n', 'number')],
    );
    expect(stats).toEqual({ count: 2, numeric: 0, sum: 0, missingRows: 0 });
  });
});
