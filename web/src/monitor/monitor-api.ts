import { api } from '../api/api-client.ts';

/** The monitor's API (src/monitor/monitor-routes.ts): usage imported from coding-agent logs. */

export interface Tokens {
  input: number;
  output: number;
  reasoning: number;
  cacheRead: number;
  cacheWrite: number;
}

export type CostBasis = 'reported' | 'computed' | 'mixed' | 'partial' | 'unpriced' | null;

export interface MonitorSession {
  source: string;
  sessionId: string;
  agentId: string | null;
  agentType: string | null;
  parentSessionId: string | null;
  records: number;
  tokens: Tokens;
  costUsd: number | null;
  costBasis: CostBasis;
  sessionKey: string;
  agentKind: string;
  title: string | null;
  usageEvents: number;
  unpricedEvents: number;
  startedAt: string | null;
  endedAt: string | null;
}

export interface MonitorDay {
  day: string;
  sessions: number;
  usageEvents: number;
  tokens: Tokens;
  costUsd: number | null;
  costBasis: CostBasis;
  unpricedEvents: number;
}

export interface MonitorModel {
  source: string;
  provider: string | null;
  model: string | null;
  usageEvents: number;
  tokens: Tokens;
  costUsd: number | null;
  costBasis: CostBasis;
  unpricedEvents: number;
}

export interface MonitorTool {
  toolName: string;
  calls: number;
  failures: number;
  failureRate: number | null;
  unfinished: number;
  timedCalls: number;
  durationP50Ms: number | null;
  durationP95Ms: number | null;
  topErrors: { error: string; count: number }[];
}

export interface MonitorOwnCall {
  key: string | null;
  calls: number;
  attempts: number;
  errors: number;
  errorRate: number | null;
  cacheHits: number;
  cacheHitRate: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  unpricedAttempts: number;
}

/** A node of a session's agent trace: the session, its own usage, its subtree's roll-up. */
export interface MonitorAgentNode {
  session: MonitorSession;
  depth: number;
  rollup: { tokens: Tokens; costUsd: number | null; usageEvents: number; unpricedEvents: number };
  children: MonitorAgentNode[];
}

/** A part of a session's transcript: text, reasoning, a tool call or a step marker. */
export interface MonitorPart {
  messageId: string | null;
  partId: string;
  type: string;
  role: string | null;
  text: string | null;
  toolName: string | null;
  callId: string | null;
  toolStatus: string | null;
  toolInput: string | null;
  toolError: string | null;
  childRef: string | null;
  sourceRef: string;
  createdAt: string | null;
}

/** One model call of a session (tokens per step). */
export interface MonitorStep {
  eventKey: string;
  messageId: string | null;
  at: string | null;
  provider: string | null;
  model: string | null;
  tokens: Tokens;
  costUsd: number | null;
  costBasis: string;
}

export interface MonitorSessionDetail {
  session: MonitorSession;
  tree: MonitorAgentNode;
  parts: MonitorPart[];
  steps: MonitorStep[];
}

export type BreakdownBy = 'provider' | 'project' | 'branch';

/** A row of `GET …/monitor/breakdown`: usage per provider, working directory or git branch. */
export interface MonitorBreakdownRow {
  key: string | null;
  sessions: number;
  usageEvents: number;
  tokens: Tokens;
  costUsd: number | null;
  costBasis: CostBasis;
  unpricedEvents: number;
}

/** `GET …/monitor/sessions/:key/exchanges`: a user turn and what followed it. */
export interface MonitorExchange {
  index: number;
  messageId: string;
  at: string;
  until: string | null;
  lastReplyAt: string | null;
  prompt: string | null;
  reply: string | null;
  toolCalls: number;
  usageEvents: number;
  tokens: Tokens;
  costUsd: number | null;
  costBasis: CostBasis;
  unpricedEvents: number;
}

/** `GET …/monitor/own-calls/budgets`: a budget of the project with its spend rate. */
export interface MonitorBudgetBurn {
  id: string;
  scope: 'project' | 'user';
  userId: string | null;
  period: 'day' | 'week' | 'month' | 'total';
  hardLimitUsd: number | null;
  softLimitUsd: number | null;
  periodStart: string | null;
  periodEnd: string | null;
  spentUsd: number;
  reservedUsd: number;
  burnUsdPerHour: number | null;
  projectedUsd: number | null;
  exhaustsAt: string | null;
  usedShare: number | null;
}

/** `GET …/monitor/watch`: the project's server-side watch and its last cycle. */
export interface MonitorWatch {
  enabled: boolean;
  path: string | null;
  source: 'auto' | 'claude-code' | 'opencode';
  live: boolean;
  watchingHere: boolean;
  lastCycleAt: string | null;
  lastImportAt: string | null;
  lastError: string | null;
  updatedAt: string | null;
}

const base = (projectId: string) => `/api/projects/${encodeURIComponent(projectId)}/monitor`;

export const monitorApi = {
  sessions: (projectId: string) => api<{ items: MonitorSession[] }>(`${base(projectId)}/sessions`),
  session: (projectId: string, sessionKey: string) =>
    api<MonitorSessionDetail>(`${base(projectId)}/sessions/${encodeURIComponent(sessionKey)}`),
  daily: (projectId: string, timezone: string) =>
    api<{ timezone: string; items: MonitorDay[] }>(`${base(projectId)}/daily`, {
      query: { timezone },
    }),
  models: (projectId: string) => api<{ items: MonitorModel[] }>(`${base(projectId)}/models`),
  breakdown: (projectId: string, by: BreakdownBy) =>
    api<{ by: BreakdownBy; items: MonitorBreakdownRow[] }>(`${base(projectId)}/breakdown`, {
      query: { by },
    }),
  tools: (projectId: string) => api<{ items: MonitorTool[] }>(`${base(projectId)}/tools`),
  exchanges: (projectId: string, sessionKey: string) =>
    api<{ items: MonitorExchange[] }>(
      `${base(projectId)}/sessions/${encodeURIComponent(sessionKey)}/exchanges`,
    ),
  budgets: (projectId: string) =>
    api<{ asOf: string; items: MonitorBudgetBurn[] }>(`${base(projectId)}/own-calls/budgets`),
  watch: (projectId: string) => api<MonitorWatch>(`${base(projectId)}/watch`),
  setWatch: (projectId: string, body: { enabled: boolean; path?: string }) =>
    api<MonitorWatch>(`${base(projectId)}/watch`, { method: 'PUT', body }),
  ownCalls: (projectId: string, by: 'feature' | 'model' | 'dataset') =>
    api<{ by: string; items: MonitorOwnCall[] }>(`${base(projectId)}/own-calls`, {
      query: { by },
    }),
};
