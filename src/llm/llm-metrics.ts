import { Counter, Histogram, type Registry } from 'prom-client';
import type { TokenUsage } from './llm-provider.ts';

type Labels = 'provider' | 'model' | 'feature';

/**
 * Prometheus series of LLM traffic, by provider kind, model and feature (bounded label sets:
 * never a project, user or call id). Costs are counted in nano-USD, like everything else.
 */
export interface LlmMetrics {
  attempts: Counter<Labels | 'status'>;
  errors: Counter<Labels | 'code'>;
  tokens: Counter<Labels | 'type'>;
  costNano: Counter<Labels>;
  unpriced: Counter<Labels>;
  cache: Counter<'feature' | 'result'>;
  budgetRefusals: Counter<'feature'>;
  latency: Histogram<'provider' | 'model'>;
}

export function createLlmMetrics(registry: Registry): LlmMetrics {
  const labelNames = ['provider', 'model', 'feature'] as const;
  return {
    attempts: new Counter({
      name: 'braincells_llm_attempts_total',
      help: 'LLM request attempts (retries included) by outcome',
      labelNames: [...labelNames, 'status'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'braincells_llm_errors_total',
      help: 'Failed LLM attempts by error code',
      labelNames: [...labelNames, 'code'],
      registers: [registry],
    }),
    tokens: new Counter({
      name: 'braincells_llm_tokens_total',
      help: 'LLM tokens by bucket (uncached_input, cache_read, cache_write, output, reasoning)',
      labelNames: [...labelNames, 'type'],
      registers: [registry],
    }),
    costNano: new Counter({
      name: 'braincells_llm_cost_nano_usd_total',
      help: 'Cost of LLM attempts with a known price, in nano-USD (1e-9 USD)',
      labelNames,
      registers: [registry],
    }),
    unpriced: new Counter({
      name: 'braincells_llm_unpriced_attempts_total',
      help: 'LLM attempts whose price is unknown (not included in the cost counter)',
      labelNames,
      registers: [registry],
    }),
    cache: new Counter({
      name: 'braincells_llm_cache_lookups_total',
      help: 'LLM response cache lookups by result (hit, miss)',
      labelNames: ['feature', 'result'],
      registers: [registry],
    }),
    budgetRefusals: new Counter({
      name: 'braincells_llm_budget_refusals_total',
      help: 'LLM calls refused because a hard budget was used up',
      labelNames: ['feature'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'braincells_llm_attempt_duration_seconds',
      help: 'Duration of LLM attempts',
      labelNames: ['provider', 'model'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
  };
}

export function countTokens(
  metrics: LlmMetrics,
  labels: Record<Labels, string>,
  usage: TokenUsage,
): void {
  const add = (type: string, value: number | undefined) => {
    if (value) metrics.tokens.inc({ ...labels, type }, value);
  };
  add('uncached_input', usage.uncachedInputTokens);
  add('cache_read', usage.cacheReadTokens);
  add('cache_write', usage.cacheWriteTokens);
  add('output', usage.outputTokens);
  add('reasoning', usage.reasoningTokens);
}
