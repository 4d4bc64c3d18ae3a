import type { Kysely } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { requireAdmin } from '../access/scopes.ts';
import type { DB } from '../migrations/db-schema.ts';
import { currentRequestContext } from '../platform/http/request-context.ts';
import { uuidv7 } from '../platform/ids.ts';
import { redactSummary } from './audit-redaction.ts';
import type { AuditQuery } from './audit-schema.ts';
import { type AuditRow, insertAuditRow, listAuditRows } from './audit-store.ts';

export type { AuditEntry, AuditRecorder } from '../access/audit-recorder.ts';

export function createAuditRecorder(): AuditRecorder {
  const rowOf: AuditRecorder['rowOf'] = (entry) => {
    const context = currentRequestContext();
    const actor = entry.actor;
    return {
      id: uuidv7(),
      actor_user_id: actor && actor.via !== 'system' ? actor.userId : null,
      actor_via: actor ? actor.via : 'anonymous',
      credential_id: actor?.credentialId ?? null,
      action: entry.action,
      entity_type: entry.entityType,
      entity_id: entry.entityId ?? null,
      project_id: entry.projectId ?? null,
      request_id: context?.requestId ?? null,
      ip: context?.ip ?? null,
      summary: redactSummary(entry.summary),
    };
  };
  return {
    rowOf,
    async record(executor, entry) {
      await insertAuditRow(executor, rowOf(entry));
    },
  };
}

export interface AuditService {
  /** A project's entries, newest first; owners and instance admins only. */
  listProjectEntries(actor: Actor, projectId: string, query: AuditQuery): Promise<AuditRow[]>;
  /** Every entry (sign-ins, users, all projects); instance admins only. */
  listEntries(
    actor: Actor,
    query: AuditQuery & { projectId?: string | undefined },
  ): Promise<AuditRow[]>;
}

export function createAuditService(deps: { db: Kysely<DB>; access: ProjectAccess }): AuditService {
  const { db, access } = deps;
  return {
    async listProjectEntries(actor, projectId, query) {
      await access.requireRole(actor, projectId, 'owner');
      return listAuditRows(db, { ...query, projectId });
    },
    async listEntries(actor, query) {
      requireAdmin(actor);
      return listAuditRows(db, query);
    },
  };
}
