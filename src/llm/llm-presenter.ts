import type { Budget, BudgetState } from './llm-budget-store.ts';
import type { PriceOverride } from './llm-price-store.ts';
import { nanoToUsd } from './llm-prices.ts';
import type { ProviderConnection } from './llm-provider-registry.ts';

/** Every field of a provider connection that leaves the server. The key never does; its masked hint does. */
export function presentProvider(connection: ProviderConnection) {
  return {
    id: connection.id,
    projectId: connection.projectId ?? null,
    source: connection.source,
    name: connection.name,
    kind: connection.kind,
    baseUrl: connection.baseUrl ?? null,
    apiKey: connection.apiKeyHint ?? null,
    hasApiKey: connection.hasApiKey,
    models: connection.models,
    fallbacks: connection.fallbacks,
    maxConcurrency: connection.maxConcurrency,
    requestsPerMinute: connection.requestsPerMinute ?? null,
    catalogProvider: connection.catalogProvider ?? null,
    enabled: connection.enabled,
    createdAt: connection.createdAt.toISOString(),
    updatedAt: connection.updatedAt.toISOString(),
  };
}

export type ProviderView = ReturnType<typeof presentProvider>;

export function presentPriceOverride(override: PriceOverride) {
  return {
    id: override.id,
    model: override.model,
    inputUsdPerMtok: nanoToUsd(override.rates.inputNanoPerMtok),
    outputUsdPerMtok: nanoToUsd(override.rates.outputNanoPerMtok),
    cacheReadUsdPerMtok: nanoToUsd(override.rates.cacheReadNanoPerMtok),
    cacheWriteUsdPerMtok: nanoToUsd(override.rates.cacheWriteNanoPerMtok),
    validFrom: override.validFrom.toISOString(),
    createdAt: override.createdAt.toISOString(),
  };
}

export function presentBudget(budget: Budget, state: BudgetState | undefined) {
  return {
    id: budget.id,
    scope: budget.userId ? ('user' as const) : ('project' as const),
    userId: budget.userId ?? null,
    period: budget.period,
    hardLimitNano: budget.hardLimitNano ?? null,
    softLimitNano: budget.softLimitNano ?? null,
    periodStart: state ? state.periodStart.toISOString() : null,
    spentNano: state?.spentNano ?? 0,
    reservedNano: state?.reservedNano ?? 0,
    createdAt: budget.createdAt.toISOString(),
    updatedAt: budget.updatedAt.toISOString(),
  };
}

/** A usage row as the API shows it: token counts the provider did not report stay null. */
export function presentCall(row: {
  id: string;
  call_id: string;
  created_at: Date;
  user_id: string | null;
  feature: string;
  entity_ids: unknown;
  provider_ref: string;
  provider_kind: string;
  model: string;
  attempt: number;
  status: string;
  error_code: string | null;
  failure_kind: string | null;
  http_status: number | null;
  request_id: string | null;
  finish_reason: string | null;
  cache_status: string | null;
  uncached_input_tokens: number | null;
  cache_read_tokens: number | null;
  cache_write_tokens: number | null;
  output_tokens: number | null;
  reasoning_tokens: number | null;
  usage_estimated: boolean;
  cost_nano: number | null;
  saved_nano: number | null;
  latency_ms: number;
  ttft_ms: number | null;
}) {
  return {
    id: row.id,
    callId: row.call_id,
    createdAt: new Date(row.created_at).toISOString(),
    userId: row.user_id,
    feature: row.feature,
    entityIds: row.entity_ids,
    provider: row.provider_ref,
    providerKind: row.provider_kind,
    model: row.model,
    attempt: row.attempt,
    status: row.status,
    errorCode: row.error_code,
    reason: row.failure_kind,
    httpStatus: row.http_status,
    requestId: row.request_id,
    finishReason: row.finish_reason,
    cacheStatus: row.cache_status,
    tokens: {
      uncachedInput: row.uncached_input_tokens,
      cacheRead: row.cache_read_tokens,
      cacheWrite: row.cache_write_tokens,
      output: row.output_tokens,
      reasoning: row.reasoning_tokens,
      estimated: row.usage_estimated,
    },
    costNano: row.cost_nano,
    savedNano: row.saved_nano,
    latencyMs: row.latency_ms,
    timeToFirstTokenMs: row.ttft_ms,
  };
}
