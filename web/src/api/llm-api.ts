import { api } from './api-client.ts';

export const PROVIDER_KINDS = ['openai', 'anthropic', 'huggingface', 'openai-compatible'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];
export const BUDGET_PERIODS = ['day', 'week', 'month', 'total'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export interface Provider {
  id: string;
  projectId: string | null;
  source: 'project' | 'instance' | 'env';
  name: string;
  kind: ProviderKind;
  baseUrl: string | null;
  /** Masked, e.g. sk-…abcd. */
  apiKey: string | null;
  hasApiKey: boolean;
  models: string[];
  fallbacks: Record<string, { provider?: string; model: string }[]>;
  maxConcurrency: number;
  requestsPerMinute: number | null;
  catalogProvider: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface ProviderInput {
  name: string;
  kind: ProviderKind;
  baseUrl?: string;
  apiKey?: string;
  models?: string[];
  maxConcurrency?: number;
  requestsPerMinute?: number | null;
  enabled?: boolean;
}

export interface ProviderUpdate {
  name?: string;
  baseUrl?: string | null;
  apiKey?: string | null;
  models?: string[];
  maxConcurrency?: number;
  requestsPerMinute?: number | null;
  enabled?: boolean;
}

export interface ProviderTest {
  ok: boolean;
  latencyMs: number;
  models?: string[];
  modelChecked?: string;
  error?: { code: string; reason: string; message: string; httpStatus?: number };
}

export interface ModelInfo {
  id: string;
  name: string | null;
  offered: boolean;
  inCatalog: boolean;
  enabled: boolean;
  /** USD per million tokens at the current date; null: unknown (never 0). */
  inputUsdPerMtok: number | null;
  outputUsdPerMtok: number | null;
  /** Null: no separate rate (cache reads are charged as input). */
  cacheReadUsdPerMtok: number | null;
  priceSource: 'override' | 'catalog' | null;
  /** The rates depend on the prompt size; these are the first tier's. */
  tiered: boolean;
  contextWindow: number | null;
}

export interface ModelList {
  providerListsModels: boolean;
  listError?: string;
  models: ModelInfo[];
}

export interface Price {
  id: string;
  model: string;
  inputUsdPerMtok: number | null;
  outputUsdPerMtok: number | null;
  cacheReadUsdPerMtok: number | null;
  cacheWriteUsdPerMtok: number | null;
  validFrom: string;
  createdAt: string;
}

export interface Budget {
  id: string;
  scope: 'project' | 'user';
  userId: string | null;
  period: BudgetPeriod;
  hardLimitNano: number | null;
  softLimitNano: number | null;
  periodStart: string | null;
  spentNano: number;
  reservedNano: number;
  createdAt: string;
  updatedAt: string;
}

export interface SpendRow {
  day?: string;
  model?: string;
  feature?: string;
  providerKind?: string;
  calls: number;
  attempts: number;
  errors: number;
  cacheHits: number;
  cacheMisses: number;
  uncachedInputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  costNano: number;
  unpricedAttempts: number;
  savedNano: number;
}

export interface Spend {
  since: string;
  until: string | null;
  groupBy: string[];
  total: { costNano: number; calls: number; unpricedAttempts: number; savedNano: number };
  rows: SpendRow[];
}

export type SpendEntity = 'dataset' | 'column' | 'run';

export interface EntitySpend {
  since: string;
  until: string | null;
  by: SpendEntity;
  rows: {
    entityId: string | null;
    datasetId: string | null;
    calls: number;
    errors: number;
    cacheHits: number;
    costNano: number;
    unpricedAttempts: number;
  }[];
}

const enc = encodeURIComponent;
const base = (projectId: string) => `/api/projects/${enc(projectId)}/llm`;

export const llmApi = {
  providers: (projectId: string) => api<{ items: Provider[] }>(`${base(projectId)}/providers`),
  createProvider: (projectId: string, input: ProviderInput) =>
    api<Provider>(`${base(projectId)}/providers`, { method: 'POST', body: input }),
  updateProvider: (projectId: string, providerId: string, input: ProviderUpdate) =>
    api<Provider>(`${base(projectId)}/providers/${enc(providerId)}`, {
      method: 'PATCH',
      body: input,
    }),
  deleteProvider: (projectId: string, providerId: string) =>
    api<void>(`${base(projectId)}/providers/${enc(providerId)}`, { method: 'DELETE' }),
  testProvider: (projectId: string, providerId: string, model?: string) =>
    api<ProviderTest>(`${base(projectId)}/providers/${enc(providerId)}/test`, {
      method: 'POST',
      body: model ? { model } : {},
    }),
  models: (projectId: string, providerId: string) =>
    api<ModelList>(`${base(projectId)}/providers/${enc(providerId)}/models`),
  prices: (projectId: string) => api<{ items: Price[] }>(`${base(projectId)}/prices`),
  createPrice: (
    projectId: string,
    input: {
      model: string;
      inputUsdPerMtok: number;
      outputUsdPerMtok: number;
      cacheReadUsdPerMtok?: number;
      cacheWriteUsdPerMtok?: number;
      validFrom?: string;
    },
  ) => api<Price>(`${base(projectId)}/prices`, { method: 'POST', body: input }),
  deletePrice: (projectId: string, priceId: string) =>
    api<void>(`${base(projectId)}/prices/${enc(priceId)}`, { method: 'DELETE' }),
  budgets: (projectId: string) => api<{ items: Budget[] }>(`${base(projectId)}/budgets`),
  createBudget: (
    projectId: string,
    input: {
      period: BudgetPeriod;
      hardLimitNano?: number;
      softLimitNano?: number;
      userId?: string;
    },
  ) => api<Budget>(`${base(projectId)}/budgets`, { method: 'POST', body: input }),
  updateBudget: (
    projectId: string,
    budgetId: string,
    input: { hardLimitNano?: number | null; softLimitNano?: number | null },
  ) => api<Budget>(`${base(projectId)}/budgets/${enc(budgetId)}`, { method: 'PATCH', body: input }),
  deleteBudget: (projectId: string, budgetId: string) =>
    api<void>(`${base(projectId)}/budgets/${enc(budgetId)}`, { method: 'DELETE' }),
  spend: (projectId: string, query: { since?: string; until?: string; groupBy?: string }) =>
    api<Spend>(`${base(projectId)}/spend`, { query }),
  spendByEntity: (projectId: string, query: { since?: string; by: SpendEntity }) =>
    api<EntitySpend>(`${base(projectId)}/spend/by-entity`, { query }),
};

/** Dollars typed by a user → integer nano-USD (no floats in stored money). */
export const usdToNano = (usd: number) => Math.round(usd * 1e9);
