import { type Insertable, type Selectable, sql } from 'kysely';
import type { ChatExecutor } from './chat-store.ts';
import type { ChatAgentTable, ChatAgentVersionTable } from './chat-tables.ts';

/**
 * SQL of agents: an agent row (name, current version, soft delete) and its immutable versions.
 * Reads join the agent with its current version; a reply reads the exact version it recorded.
 */
export type AgentRow = Selectable<ChatAgentTable>;
export type AgentVersionRow = Selectable<ChatAgentVersionTable>;
export type AgentWithVersion = { agent: AgentRow; version: AgentVersionRow };

export type AgentVersionInsert = Omit<Insertable<ChatAgentVersionTable>, 'agent_id' | 'version'>;

export async function insertAgent(
  db: ChatExecutor,
  agent: { id: string; project_id: string; created_by: string | null },
  first: AgentVersionInsert,
): Promise<AgentWithVersion> {
  const row = await db
    .insertInto('chat_agent')
    .values({ ...agent, name: first.name, current_version: 1 })
    .returningAll()
    .executeTakeFirstOrThrow();
  const version = await db
    .insertInto('chat_agent_version')
    .values({ ...first, agent_id: agent.id, version: 1 })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { agent: row, version };
}

export async function findAgent(
  db: ChatExecutor,
  projectId: string,
  agentId: string,
  options: { forUpdate?: boolean } = {},
): Promise<AgentRow | undefined> {
  let query = db
    .selectFrom('chat_agent')
    .selectAll()
    .where('id', '=', agentId)
    .where('project_id', '=', projectId)
    .where('deleted_at', 'is', null);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export async function findAgentVersion(
  db: ChatExecutor,
  agentId: string,
  version: number,
): Promise<AgentVersionRow | undefined> {
  return db
    .selectFrom('chat_agent_version')
    .selectAll()
    .where('agent_id', '=', agentId)
    .where('version', '=', version)
    .executeTakeFirst();
}

/** The project's agents (not deleted), by name, each with its current version. */
export async function listAgents(db: ChatExecutor, projectId: string): Promise<AgentWithVersion[]> {
  const agents = await db
    .selectFrom('chat_agent')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('deleted_at', 'is', null)
    .orderBy(sql`lower(name)`)
    .orderBy('id')
    .limit(500)
    .execute();
  if (agents.length === 0) return [];
  const versions = await db
    .selectFrom('chat_agent_version as v')
    .innerJoin('chat_agent as a', (join) =>
      join.onRef('a.id', '=', 'v.agent_id').onRef('a.current_version', '=', 'v.version'),
    )
    .selectAll('v')
    .where(
      'v.agent_id',
      'in',
      agents.map((agent) => agent.id),
    )
    .execute();
  const byAgent = new Map(versions.map((version) => [version.agent_id, version]));
  return agents.map((agent) => ({ agent, version: byAgent.get(agent.id)! }));
}

export async function listAgentVersions(
  db: ChatExecutor,
  agentId: string,
): Promise<AgentVersionRow[]> {
  return db
    .selectFrom('chat_agent_version')
    .selectAll()
    .where('agent_id', '=', agentId)
    .orderBy('version', 'desc')
    .execute();
}

/**
 * Adds the next version if `seen` is still the current one (compare-and-set); undefined when
 * another edit landed first.
 */
export async function addAgentVersion(
  db: ChatExecutor,
  agentId: string,
  seen: number,
  next: AgentVersionInsert,
): Promise<AgentWithVersion | undefined> {
  const agent = await db
    .updateTable('chat_agent')
    .set({ current_version: seen + 1, name: next.name, updated_at: sql<Date>`now()` })
    .where('id', '=', agentId)
    .where('current_version', '=', seen)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (!agent) return undefined;
  const version = await db
    .insertInto('chat_agent_version')
    .values({ ...next, agent_id: agentId, version: seen + 1 })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { agent, version };
}

export async function softDeleteAgent(db: ChatExecutor, agentId: string): Promise<void> {
  await db
    .updateTable('chat_agent')
    .set({ deleted_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('id', '=', agentId)
    .execute();
}
