import { describe, expect, it } from 'vitest';
import { cellLatency, quantile } from './workflow-latency.ts';

describe('quantile', () => {
  it.each([
    [[], 0.5, null],
    [[7], 0.95, 7],
    [[10, 20], 0.5, 15],
    [[10, 20], 0.95, 19.5],
    [[1, 2, 3, 4, 5], 0.5, 3],
  ])('%j at %d → %s', (values, q, expected) => {
    expect(quantile(values, q)).toBe(expected);
  });
});

describe('cellLatency', () => {
  it('leaves cache hits (0 attempts) and cells without a latency out of the figures', () => {
    expect(
      cellLatency([
        { latencyMs: 100, attempts: 1 },
        { latencyMs: 300, attempts: 2 },
        { latencyMs: 1, attempts: 0 },
        { latencyMs: 2, attempts: 0 },
        { latencyMs: null, attempts: null },
        // A cell written before attempts were recorded still counts as the provider's.
        { latencyMs: 200, attempts: null },
      ]),
    ).toEqual({ timed: 3, cacheHits: 2, p50Ms: 200, p95Ms: 290, maxMs: 300 });
  });

  it('has no figures when every cell came from the cache', () => {
    expect(cellLatency([{ latencyMs: 3, attempts: 0 }])).toEqual({
      timed: 0,
      cacheHits: 1,
      p50Ms: null,
      p95Ms: null,
      maxMs: null,
    });
  });
});
