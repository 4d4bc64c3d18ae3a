import type { z } from 'zod';
import {
  type AgentParameters,
  agentParameters,
  type agentSchema,
  type agentVersionSchema,
} from './chat-agent-schema.ts';
import type { AgentRow, AgentVersionRow } from './chat-agent-store.ts';
import { iso } from './chat-presenter.ts';

/** The fields of an agent that leave the server. */
export type AgentView = z.infer<typeof agentSchema>;
export type AgentVersionView = z.infer<typeof agentVersionSchema>;

/** Stored parameters were validated on the way in; anything else reads as none. */
export function parametersOf(row: AgentVersionRow): AgentParameters {
  const parsed = agentParameters.safeParse(row.parameters);
  return parsed.success ? parsed.data : {};
}

function versionFields(row: AgentVersionRow) {
  return {
    version: row.version,
    name: row.name,
    instructions: row.instructions,
    provider: row.provider,
    model: row.model,
    parameters: parametersOf(row),
    tools: row.tools,
    maxToolSteps: row.max_tool_steps,
    summaryModel: row.summary_model,
    summaryProvider: row.summary_provider,
  };
}

export function presentAgent(agent: AgentRow, version: AgentVersionRow): AgentView {
  return {
    id: agent.id,
    projectId: agent.project_id,
    ...versionFields(version),
    createdAt: iso(agent.created_at),
    updatedAt: iso(agent.updated_at),
  };
}

export function presentAgentVersion(row: AgentVersionRow): AgentVersionView {
  return { ...versionFields(row), createdBy: row.created_by, createdAt: iso(row.created_at) };
}
