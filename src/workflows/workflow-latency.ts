/**
 * Per-cell latency of an AI column (the `latency` option of an `ai-column` step, the Compare
 * template's figures): from what each cell recorded when it was made. A cell answered from
 * the response cache made no call to the provider (its state records 0 attempts) and took no
 * time worth the name, so it is left out and counted apart: the figures are the provider's.
 */
export interface CellTiming {
  latencyMs: number | null;
  /** Calls to the provider the cell's answer took; 0 for an answer from the cache. */
  attempts: number | null;
}

export interface CellLatency {
  /** Cells with a latency from the provider (the ones the figures are over). */
  timed: number;
  /** Cells answered from the response cache (left out of the figures). */
  cacheHits: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
}

/** The `q` quantile of sorted values, interpolated between neighbours (DuckDB's quantile_cont). */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

const rounded = (value: number | null) => (value === null ? null : Math.round(value));

export function cellLatency(cells: Iterable<CellTiming>): CellLatency {
  const timed: number[] = [];
  let cacheHits = 0;
  for (const cell of cells) {
    if (cell.latencyMs === null || !Number.isFinite(cell.latencyMs)) continue;
    if (cell.attempts === 0) cacheHits++;
    else timed.push(cell.latencyMs);
  }
  timed.sort((a, b) => a - b);
  return {
    timed: timed.length,
    cacheHits,
    p50Ms: rounded(quantile(timed, 0.5)),
    p95Ms: rounded(quantile(timed, 0.95)),
    maxMs: rounded(timed.at(-1) ?? null),
  };
}
