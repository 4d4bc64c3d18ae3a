import type { SpendRow } from '../api/llm-api.ts';

export const DAY_SECONDS = 86_400;

/** Every UTC day from `first` to `last` (YYYY-MM-DD, both included). */
export function daysBetween(first: string, last: string): string[] {
  const days: string[] = [];
  const end = Date.parse(`${last}T00:00:00Z`);
  for (let at = Date.parse(`${first}T00:00:00Z`); at <= end; at += DAY_SECONDS * 1000)
    days.push(new Date(at).toISOString().slice(0, 10));
  return days;
}

export interface SpendSeries {
  days: string[];
  models: string[];
  /** Known cost per model per day, USD (0 on a day without calls). */
  usd: number[][];
  /** Per day: known cost (nano-USD) and attempts without a known price. */
  totals: { costNano: number; unpricedAttempts: number }[];
  /** uPlot's columns: x (seconds, the day's noon), then one stacked y series per model. */
  data: [number[], ...number[][]];
}

/**
 * Days × models over the whole period (`first`..`last`, days without calls are zero), the
 * y series stacked: series i is the sum of models 0..i, drawn widest first as bars.
 */
export function spendSeries(rows: readonly SpendRow[], first: string, last: string): SpendSeries {
  const dataDays = rows.map((row) => row.day?.slice(0, 10) ?? '').filter(Boolean);
  const from = [first, ...dataDays].sort()[0]!;
  const to = [last, ...dataDays].sort().at(-1)!;
  const days = daysBetween(from, to);
  const models = [...new Set(rows.map((row) => row.model ?? 'unknown'))].sort();
  const index = new Map(days.map((day, at) => [day, at]));
  const usd = models.map(() => days.map(() => 0));
  const totals = days.map(() => ({ costNano: 0, unpricedAttempts: 0 }));
  for (const row of rows) {
    const at = index.get(row.day?.slice(0, 10) ?? '');
    const model = models.indexOf(row.model ?? 'unknown');
    if (at === undefined || model < 0) continue;
    usd[model]![at]! += row.costNano / 1e9;
    totals[at]!.costNano += row.costNano;
    totals[at]!.unpricedAttempts += row.unpricedAttempts;
  }
  const stacked = models.map((_, model) =>
    days.map((_day, at) => usd.slice(0, model + 1).reduce((sum, series) => sum + series[at]!, 0)),
  );
  const xs = days.map((day) => Date.parse(`${day}T12:00:00Z`) / 1000);
  return { days, models, usd, totals, data: [xs, ...stacked.reverse()] };
}
