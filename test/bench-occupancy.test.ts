import { describe, expect, it } from 'vitest';
import { addToSlices } from '../bench/fake-llm-occupancy-child.ts';

// The occupancy fake's per-slice areas (bench/fake-llm-occupancy-child.ts): a walk over the
// slices that must end whatever rounding does to the boundaries.
describe('addToSlices', () => {
  it('ends at a boundary that rounds to where it stands, and keeps every millisecond', () => {
    // (15134.043803327057 + 5 × 250 − start) / 250 rounds below 5: the old walk stayed there.
    const startedAt = 15134.043803327057;
    const from = startedAt + 5 * 250;
    expect(Math.floor((from - startedAt) / 250)).toBe(4);
    const areas: number[] = [];
    addToSlices(areas, startedAt, 250, from, from + 100, 2);
    expect(areas.reduce((sum, area) => sum + (area ?? 0), 0)).toBeCloseTo(200, 6);
  });

  it('splits a span over the slices it covers', () => {
    const areas: number[] = [];
    addToSlices(areas, 1000, 250, 1100, 1700, 3);
    expect(areas.map((area) => Math.round(area))).toEqual([450, 750, 600]);
  });
});
