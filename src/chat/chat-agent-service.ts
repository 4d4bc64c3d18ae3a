import type { Kysely } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { AuditEntry, AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { Executor } from '../audit/audit-store.ts';
import type { DB } from '../migrations/db-schema.ts';
import { conflict, notFound } from '../platform/app-error.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { uuidv7 } from '../platform/ids.ts';
import { presentAgent, presentAgentVersion } from './chat-agent-presenter.ts';
import type { CreateAgentInput, UpdateAgentInput } from './chat-agent-schema.ts';
import {
  type AgentVersionInsert,
  addAgentVersion,
  findAgent,
  findAgentVersion,
  insertAgent,
  listAgents,
  listAgentVersions,
  softDeleteAgent,
} from './chat-agent-store.ts';
import { creatorOf } from './chat-service.ts';
import { agentTotals, type ChatExecutor, NO_TOTALS } from './chat-store.ts';
import { chatDb } from './chat-tables.ts';

/**
 * A feature whose definitions name agents (workflows) and must not lose one silently: an
 * unforced delete of an agent it uses answers 409 listing the users; a forced one goes ahead,
 * audited with them (`chat-agent.delete-forced`).
 */
export interface AgentDeleteGuard {
  usersOf(
    projectId: string,
    agentId: string,
  ): Promise<{ kind: string; id: string; name: string }[]>;
}

/**
 * Agents: instructions + model + parameters + tools, kept as immutable versions. An edit adds
 * a version (compare-and-set on the version the client saw); a delete hides the agent. A reply
 * records the version it started with, so neither changes a reply that is running.
 */
export function createAgentService(deps: {
  db: Kysely<DB>;
  access: ProjectAccess;
  audit: AuditRecorder;
}) {
  const db = chatDb(deps.db);
  const { access, audit } = deps;
  const deleteGuards: AgentDeleteGuard[] = [];
  const record = (tx: ChatExecutor, entry: AuditEntry) =>
    audit.record(tx as unknown as Executor, entry);

  const versionValues = (input: CreateAgentInput, actor: Actor): AgentVersionInsert => ({
    name: input.name,
    instructions: input.instructions,
    provider: input.provider,
    model: input.model,
    parameters: JSON.stringify(input.parameters),
    tools: input.tools,
    max_tool_steps: input.maxToolSteps,
    summary_model: input.summaryModel,
    summary_provider: input.summaryModel === null ? null : input.summaryProvider,
    created_by: creatorOf(actor),
  });

  const duplicateName = (name: string) =>
    conflict(`An agent named ${name} exists in this project`, { field: 'name' });

  const getAgentRow = async (projectId: string, agentId: string) => {
    const agent = await findAgent(db, projectId, agentId);
    if (!agent) throw notFound('agent', agentId);
    return agent;
  };

  return {
    /** The project's agents at their current version, each with what its replies cost. */
    async listAgents(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const rows = await listAgents(db, projectId);
      const totals = await agentTotals(
        db,
        projectId,
        rows.map(({ agent }) => agent.id),
      );
      return rows.map(({ agent, version }) => ({
        ...presentAgent(agent, version),
        totals: totals.get(agent.id) ?? NO_TOTALS,
      }));
    },

    async getAgent(actor: Actor, projectId: string, agentId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const agent = await getAgentRow(projectId, agentId);
      const version = await findAgentVersion(db, agent.id, agent.current_version);
      const totals = await agentTotals(db, projectId, [agent.id]);
      return { ...presentAgent(agent, version!), totals: totals.get(agent.id) ?? NO_TOTALS };
    },

    async listVersions(actor: Actor, projectId: string, agentId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await getAgentRow(projectId, agentId);
      return (await listAgentVersions(db, agentId)).map(presentAgentVersion);
    },

    async createAgent(actor: Actor, projectId: string, input: CreateAgentInput) {
      await access.requireRole(actor, projectId, 'editor');
      try {
        const created = await db.transaction().execute(async (tx) => {
          const row = await insertAgent(
            tx,
            { id: uuidv7(), project_id: projectId, created_by: creatorOf(actor) },
            versionValues(input, actor),
          );
          await record(tx, {
            actor,
            action: 'chat-agent.create',
            entityType: 'chat-agent',
            entityId: row.agent.id,
            projectId,
            summary: { name: input.name, model: input.model, tools: input.tools },
          });
          return row;
        });
        return presentAgent(created.agent, created.version);
      } catch (error) {
        if (isUniqueViolation(error)) throw duplicateName(input.name);
        throw error;
      }
    },

    /** A new version; `input.version` must be the current one (409 with the current agent). */
    async updateAgent(actor: Actor, projectId: string, agentId: string, input: UpdateAgentInput) {
      await access.requireRole(actor, projectId, 'editor');
      await getAgentRow(projectId, agentId);
      const { version: seen, ...fields } = input;
      try {
        const updated = await db.transaction().execute(async (tx) => {
          const row = await addAgentVersion(tx, agentId, seen, versionValues(fields, actor));
          if (!row) {
            const current = await findAgent(tx, projectId, agentId);
            if (!current) throw notFound('agent', agentId);
            throw conflict('The agent changed since you loaded it', {
              version: current.current_version,
            });
          }
          await record(tx, {
            actor,
            action: 'chat-agent.update',
            entityType: 'chat-agent',
            entityId: agentId,
            projectId,
            summary: { version: row.version.version, model: fields.model, tools: fields.tools },
          });
          return row;
        });
        return presentAgent(updated.agent, updated.version);
      } catch (error) {
        if (isUniqueViolation(error)) throw duplicateName(fields.name);
        throw error;
      }
    },

    /** Plugs in a feature asked before any agent is deleted (workflows). */
    guardAgentDelete(guard: AgentDeleteGuard): void {
      deleteGuards.push(guard);
    },

    /**
     * Hides the agent; its versions stay, so replies and threads that used it keep their record.
     * An agent a workflow uses answers 409 naming the workflows unless `force`.
     */
    async deleteAgent(
      actor: Actor,
      projectId: string,
      agentId: string,
      options: { force?: boolean } = {},
    ) {
      await access.requireRole(actor, projectId, 'editor');
      await getAgentRow(projectId, agentId);
      const usedBy: { kind: string; id: string; name: string }[] = [];
      for (const guard of deleteGuards) usedBy.push(...(await guard.usersOf(projectId, agentId)));
      if (usedBy.length > 0 && !options.force)
        throw conflict(
          `The agent is used by ${usedBy.map((user) => `${user.kind} "${user.name}"`).join(', ')}; delete with force=true to delete it anyway`,
          { usedBy },
        );
      await db.transaction().execute(async (tx) => {
        const agent = await findAgent(tx, projectId, agentId, { forUpdate: true });
        if (!agent) throw notFound('agent', agentId);
        await softDeleteAgent(tx, agentId);
        await record(tx, {
          actor,
          action: usedBy.length > 0 ? 'chat-agent.delete-forced' : 'chat-agent.delete',
          entityType: 'chat-agent',
          entityId: agentId,
          projectId,
          ...(usedBy.length > 0 ? { summary: { usedBy } } : {}),
        });
      });
    },
  };
}

export type AgentService = ReturnType<typeof createAgentService>;
