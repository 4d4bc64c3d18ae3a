import { api } from '../api/api-client.ts';

/** Agents over the REST API (docs/chat.md "Agents"): an edit saves a new version. */
export const AGENT_TOOLS = ['query_sheet', 'read_rows', 'web_search', 'list_datasets'] as const;
export type AgentTool = (typeof AGENT_TOOLS)[number];

export interface AgentFields {
  name: string;
  instructions: string;
  provider: string | null;
  model: string;
  parameters: { temperature?: number; maxOutputTokens?: number };
  tools: AgentTool[];
  maxToolSteps: number;
  /** The model that summarizes this agent's threads; null: the project's, else the reply's. */
  summaryModel: string | null;
  summaryProvider: string | null;
}

export interface Agent extends AgentFields {
  id: string;
  projectId: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** What an agent's replies cost (every attempt); on the list and on one agent. */
export interface AgentTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costNano: number;
  unpricedCalls: number;
}

export interface AgentVersion extends AgentFields {
  version: number;
  createdBy: string | null;
  createdAt: string;
}

const agents = (projectId: string) => `/api/projects/${encodeURIComponent(projectId)}/chat/agents`;
const agent = (projectId: string, agentId: string) =>
  `${agents(projectId)}/${encodeURIComponent(agentId)}`;

export const agentsApi = {
  list: (projectId: string) =>
    api<{ items: (Agent & { totals: AgentTotals })[] }>(agents(projectId)),
  create: (projectId: string, input: AgentFields) =>
    api<Agent>(agents(projectId), { method: 'POST', body: input }),
  update: (projectId: string, agentId: string, input: AgentFields & { version: number }) =>
    api<Agent>(agent(projectId, agentId), { method: 'PUT', body: input }),
  remove: (projectId: string, agentId: string) =>
    api<void>(agent(projectId, agentId), { method: 'DELETE' }),
  versions: (projectId: string, agentId: string) =>
    api<{ items: AgentVersion[] }>(`${agent(projectId, agentId)}/versions`),
};
