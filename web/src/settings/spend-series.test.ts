import { describe, expect, it } from 'vitest';
import type { SpendRow } from '../api/llm-api.ts';
import { formatSpend } from '../ui/format.ts';
import { daysBetween, spendSeries } from './spend-series.ts';

const row = (day: string, model: string, costNano: number, unpricedAttempts = 0): SpendRow => ({
  day,
  model,
  calls: 1,
  attempts: 1,
  errors: 0,
  cacheHits: 0,
  cacheMisses: 1,
  uncachedInputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
  costNano,
  unpricedAttempts,
  savedNano: 0,
});

describe('spend series', () => {
  it('lists every day of the period, across a month end', () => {
    expect(daysBetween('2026-11-28', '2026-12-02')).toEqual([
      '2026-11-28',
      '2026-11-29',
      '2026-11-30',
      '2026-12-01',
      '2026-12-02',
    ]);
  });

  it('spans the selected period with zero days, not just the days that had calls', () => {
    const series = spendSeries(
      [row('2026-12-05', 'gpt-4o-mini', 2_000_000)],
      '2026-11-29',
      '2026-12-05',
    );
    expect(series.days).toHaveLength(7);
    expect(series.days[0]).toBe('2026-11-29');
    expect(series.usd[0]).toEqual([0, 0, 0, 0, 0, 0, 0.002]);
    // x values are the days' noons in seconds: the axis runs over the period, not years.
    const xs = series.data[0];
    expect(xs[0]).toBe(Date.parse('2026-11-29T12:00:00Z') / 1000);
    expect(xs.at(-1)! - xs[0]!).toBe(6 * 86_400);
  });

  it('stacks models (each series is the sum of the ones below) and keeps unknown prices apart', () => {
    const series = spendSeries(
      [
        row('2026-12-01', 'a', 1_000_000_000),
        row('2026-12-01', 'b', 500_000_000, 2),
        row('2026-12-02', 'b', 0, 3),
      ],
      '2026-12-01',
      '2026-12-02',
    );
    expect(series.models).toEqual(['a', 'b']);
    // Widest (a + b) first, so it is drawn behind.
    expect(series.data[1]).toEqual([1.5, 0]);
    expect(series.data[2]).toEqual([1, 0]);
    expect(series.totals).toEqual([
      { costNano: 1_500_000_000, unpricedAttempts: 2 },
      { costNano: 0, unpricedAttempts: 3 },
    ]);
  });
});

describe('formatSpend', () => {
  it('says unknown instead of $0.00 when no price is known', () => {
    expect(formatSpend(0, 3)).toBe('unknown');
    expect(formatSpend(1_200_000_000, 1)).toBe('$1.20 + unknown');
    expect(formatSpend(0, 0)).toBe('$0.00');
    expect(formatSpend(1_200_000_000, 0)).toBe('$1.20');
  });
});
