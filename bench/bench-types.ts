/**
 * One measured figure. `ratio` compares it with its limit or with a peer measured in the same
 * run (so a slow machine slows both); `goal` says which way is good.
 */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  /** The figure it is compared against (a goal, or a peer measured in the same run). */
  against?: { label: string; value: number };
  ratio?: number;
  goal?: string;
  /** True when a stated goal is met; undefined when there is no goal. */
  pass?: boolean;
}

export type Bench = () => Promise<BenchRow[]>;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
