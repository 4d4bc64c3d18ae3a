import { overrideAt, type PriceOverride } from '../llm/llm-price-store.ts';
import { costNano } from '../llm/llm-prices.ts';
import type { UsageRow } from './monitor-records.ts';

export type CostBasis = 'reported' | 'computed' | 'unpriced';

export interface Priced {
  costNano: number | null;
  basis: CostBasis;
}

/**
 * The cost of one usage event: what the log reports when positive (a 0 from a subscription is
 * not a price), else computed from the LLM module's dated price catalog, every bucket as the
 * provider bills it — reasoning at the output rate, cache reads and writes at their rates,
 * 1-hour cache writes at 2× input (Anthropic; 5-minute writes are the catalog's 1.25×).
 * A project's price override for the model (the LLM module's, dated: the one in force when
 * the call was made) wins over the catalog, and prices a model the catalog does not know.
 * An unknown model or provider costs null, never 0.
 */
export function priceUsage(event: UsageRow, overrides: readonly PriceOverride[] = []): Priced {
  if (event.reportedCostNano !== null && event.reportedCostNano > 0) {
    return { costNano: event.reportedCostNano, basis: 'reported' };
  }
  if (!event.model) return { costNano: null, basis: 'unpriced' };
  const at = event.ts ?? new Date(0);
  const override = overrideAt(overrides, event.model, at)?.rates;
  if (!event.provider && !override) return { costNano: null, basis: 'unpriced' };
  const source = { catalogProviderId: event.provider ?? undefined, override, at };
  const main = costNano(
    {
      uncachedInputTokens: event.input,
      cacheReadTokens: event.cacheRead,
      cacheWriteTokens: event.cacheWrite,
      outputTokens: event.output + event.reasoning,
      reasoningTokens: undefined,
    },
    event.model,
    source,
  );
  if (main === null) return { costNano: null, basis: 'unpriced' };
  if (event.cacheWrite1h === 0) return { costNano: main, basis: 'computed' };
  // The 1-hour writes were priced above as 5-minute writes; charge the difference up to 2×
  // input. (Long-context tiers apply to the whole call above, and to this difference at the
  // base rate.)
  const asInput = costNano(
    { ...ZERO, uncachedInputTokens: event.cacheWrite1h },
    event.model,
    source,
  );
  const asWrite = costNano({ ...ZERO, cacheWriteTokens: event.cacheWrite1h }, event.model, source);
  if (asInput === null || asWrite === null) return { costNano: null, basis: 'unpriced' };
  return { costNano: main + 2 * asInput - asWrite, basis: 'computed' };
}

const ZERO = {
  uncachedInputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 0,
  reasoningTokens: undefined,
};
