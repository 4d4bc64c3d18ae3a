import { formatInteger } from '../ui/format.ts';
import type { CostBasis, Tokens } from './monitor-api.ts';
import type { Flat } from './monitor-export.ts';
import type { MonitorColumn } from './monitor-table.tsx';

/** How the Monitor pages show money, rates, durations and usage, and flatten it for CSV. */

/** A cost with events of unknown price is a lower bound (`≥ $x`); none known is `unknown`. */
export function formatUsd(usd: number | null, basis: CostBasis): string {
  if (usd === null) return basis === null ? '—' : 'unknown';
  const text = `$${usd.toFixed(usd !== 0 && Math.abs(usd) < 0.01 ? 6 : 2)}`;
  return basis === 'partial' ? `≥ ${text}` : text;
}

export const percent = (rate: number | null) =>
  rate === null ? '—' : `${(rate * 100).toFixed(1)}%`;

export const millis = (ms: number | null) =>
  ms === null ? '—' : ms >= 1_000 ? `${(ms / 1_000).toFixed(1)} s` : `${Math.round(ms)} ms`;

export const flatTokens = (tokens: Tokens): Flat => ({
  input: tokens.input,
  output: tokens.output,
  reasoning: tokens.reasoning,
  cacheRead: tokens.cacheRead,
  cacheWrite: tokens.cacheWrite,
});

/** The usage fields every report row shares. */
export interface UsageRow {
  usageEvents: number;
  tokens: Tokens;
  costUsd: number | null;
  costBasis: CostBasis;
  unpricedEvents: number;
}

/** A report row's usage as CSV columns (tokens spread out). */
export const flatUsage = (row: UsageRow): Flat => ({
  usageEvents: row.usageEvents,
  ...flatTokens(row.tokens),
  costUsd: row.costUsd,
  costBasis: row.costBasis,
  unpricedEvents: row.unpricedEvents,
});

/** Calls, token buckets and cost: the columns every usage report shares. */
export const usageColumns: MonitorColumn<UsageRow>[] = [
  { label: 'Calls', numeric: true, cell: (row) => formatInteger(row.usageEvents) },
  { label: 'Input', numeric: true, cell: (row) => formatInteger(row.tokens.input) },
  { label: 'Output', numeric: true, cell: (row) => formatInteger(row.tokens.output) },
  { label: 'Cache read', numeric: true, cell: (row) => formatInteger(row.tokens.cacheRead) },
  { label: 'Cache write', numeric: true, cell: (row) => formatInteger(row.tokens.cacheWrite) },
  {
    label: 'Cost',
    numeric: true,
    title: (row) =>
      row.unpricedEvents ? `${row.unpricedEvents} calls of unknown price` : undefined,
    cell: (row) => formatUsd(row.costUsd, row.costBasis),
  },
];
