import type { TokenTotals, UsageTotals } from './monitor-store.ts';

/**
 * 5-hour usage blocks, as Anthropic's plans meter them (and ccusage shows them): a block
 * starts at the hour of the first call after the previous block ended and lasts 5 hours.
 * Burn rate is tokens per minute between the block's first and last call; the projection
 * carries that rate to the block's end (only for the block still open at `now`).
 */

export const BLOCK_MS = 5 * 3_600_000;
const HOUR = 3_600_000;

export interface BlockEvent {
  ts: number;
  tokens: TokenTotals;
  costNano: number | null;
  basis: string;
}

export interface UsageBlock extends UsageTotals {
  start: number;
  end: number;
  firstAt: number;
  lastAt: number;
  /** All buckets, per minute of activity; null with a single call. */
  burnTokensPerMinute: number | null;
  /** The open block's tokens at its end at the current burn rate; null for closed blocks. */
  projectedTokens: number | null;
  projectedCostNano: number | null;
  active: boolean;
}

const sum = (tokens: TokenTotals) =>
  tokens.input + tokens.output + tokens.reasoning + tokens.cacheRead + tokens.cacheWrite;

/** Usage between two instants that no block boundary falls between (a quarter-hour). */
export interface BlockSlice extends UsageTotals {
  firstAt: number;
  lastAt: number;
}

/** `events` in time order. */
export function usageBlocks(events: readonly BlockEvent[], now: number): UsageBlock[] {
  return usageBlocksOfSlices(
    events.map((event) => ({
      firstAt: event.ts,
      lastAt: event.ts,
      tokens: event.tokens,
      usageEvents: 1,
      costNano: event.costNano,
      unpricedEvents: event.basis === 'unpriced' ? 1 : 0,
      reportedEvents: event.basis === 'reported' ? 1 : 0,
      computedEvents: event.basis === 'unpriced' || event.basis === 'reported' ? 0 : 1,
    })),
    now,
  );
}

/**
 * `slices` in time order, each inside one block: a block starts on an hour and lasts whole
 * hours, so the rollup's quarter-hours (monitor-store.ts blockSlices) give the blocks the
 * events give.
 */
export function usageBlocksOfSlices(slices: readonly BlockSlice[], now: number): UsageBlock[] {
  const blocks: UsageBlock[] = [];
  let current: UsageBlock | undefined;
  for (const slice of slices) {
    if (!current || slice.firstAt >= current.end) {
      const start = Math.floor(slice.firstAt / HOUR) * HOUR;
      current = {
        start,
        end: start + BLOCK_MS,
        firstAt: slice.firstAt,
        lastAt: slice.lastAt,
        tokens: { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0 },
        usageEvents: 0,
        costNano: null,
        unpricedEvents: 0,
        reportedEvents: 0,
        computedEvents: 0,
        burnTokensPerMinute: null,
        projectedTokens: null,
        projectedCostNano: null,
        active: false,
      };
      blocks.push(current);
    }
    current.lastAt = slice.lastAt;
    current.usageEvents += slice.usageEvents;
    for (const key of Object.keys(current.tokens) as (keyof TokenTotals)[]) {
      current.tokens[key] += slice.tokens[key];
    }
    if (slice.costNano !== null) current.costNano = (current.costNano ?? 0) + slice.costNano;
    current.unpricedEvents += slice.unpricedEvents;
    current.reportedEvents += slice.reportedEvents;
    current.computedEvents += slice.computedEvents;
  }
  for (const block of blocks) {
    const minutes = (block.lastAt - block.firstAt) / 60_000;
    const total = sum(block.tokens);
    block.burnTokensPerMinute = minutes > 0 ? Math.round(total / minutes) : null;
    block.active = now >= block.start && now < block.end;
    if (block.active && block.burnTokensPerMinute !== null) {
      const remaining = (block.end - Math.max(now, block.lastAt)) / 60_000;
      block.projectedTokens = Math.round(total + block.burnTokensPerMinute * remaining);
      block.projectedCostNano =
        block.costNano === null || total === 0
          ? null
          : Math.round(block.costNano * (block.projectedTokens / total));
    }
  }
  return blocks;
}
