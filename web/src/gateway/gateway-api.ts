import { api } from '../api/api-client.ts';
import type { BudgetPeriod } from '../api/llm-api.ts';

/** Gateway keys as the server presents them (src/gateway/gateway-presenter.ts). */
export interface GatewayKey {
  id: string;
  name: string;
  prefix: string;
  models: {
    name: string;
    provider: string | null;
    model: string;
    fallbacks: { provider?: string; model: string }[];
  }[];
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
  cache: boolean;
  budgets: {
    period: BudgetPeriod;
    hardLimitNano: number | null;
    spentNano: number;
    reservedNano: number;
    periodStart: string | null;
  }[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface GatewayKeyInput {
  name: string;
  models: { name?: string; provider?: string; model: string }[];
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  budgets?: { period: BudgetPeriod; hardLimitNano: number }[];
  cache?: boolean;
}

const enc = encodeURIComponent;
const base = (projectId: string) => `/api/projects/${enc(projectId)}/gateway/keys`;

export const gatewayApi = {
  keys: (projectId: string) => api<{ items: GatewayKey[] }>(base(projectId)),
  createKey: (projectId: string, input: GatewayKeyInput) =>
    api<GatewayKey & { key: string }>(base(projectId), { method: 'POST', body: input }),
  revokeKey: (projectId: string, keyId: string) =>
    api<void>(`${base(projectId)}/${enc(keyId)}`, { method: 'DELETE' }),
};
