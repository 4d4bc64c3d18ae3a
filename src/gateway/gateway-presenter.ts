import type { GatewayKey } from './gateway-store.ts';

/** A key's budget as the key list shows it (from the LLM module's budget view). */
export interface GatewayBudgetState {
  period: 'day' | 'week' | 'month' | 'total';
  hardLimitNano: number | null;
  spentNano: number;
  reservedNano: number;
  periodStart: string | null;
}

/** Every field of a gateway key that leaves the server; never its secret or hash. */
export function presentGatewayKey(key: GatewayKey, budgets: readonly GatewayBudgetState[]) {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    models: key.models.map((entry) => ({
      name: entry.name,
      provider: entry.provider ?? null,
      model: entry.model,
      fallbacks: entry.fallbacks.map((fallback) => ({
        ...(fallback.provider === undefined ? {} : { provider: fallback.provider }),
        model: fallback.model,
      })),
    })),
    requestsPerMinute: key.requestsPerMinute ?? null,
    tokensPerMinute: key.tokensPerMinute ?? null,
    cache: key.cache,
    budgets: budgets.map((budget) => ({
      period: budget.period,
      hardLimitNano: budget.hardLimitNano,
      spentNano: budget.spentNano,
      reservedNano: budget.reservedNano,
      periodStart: budget.periodStart,
    })),
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt ? key.lastUsedAt.toISOString() : null,
    revokedAt: key.revokedAt ? key.revokedAt.toISOString() : null,
  };
}

/** OpenAI's model list (`GET /v1/models`). */
export function presentOpenAiModels(key: GatewayKey) {
  const created = Math.floor(key.createdAt.getTime() / 1000);
  return {
    object: 'list',
    data: key.models.map((entry) => ({
      id: entry.name,
      object: 'model',
      created,
      owned_by: 'braincells',
    })),
  };
}

/** Anthropic's model list (`GET /v1/models` with `anthropic-version`). */
export function presentAnthropicModels(key: GatewayKey) {
  const data = key.models.map((entry) => ({
    type: 'model',
    id: entry.name,
    display_name: entry.name,
    created_at: key.createdAt.toISOString(),
  }));
  return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}
