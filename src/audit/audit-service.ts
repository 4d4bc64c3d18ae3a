import type { Kysely } from 'kysely';
import type { Actor } from '../auth/actor.ts';
import { requireAdmin } from '../auth/scopes.ts';
import type { DB } from '../migrations/db-schema.ts';
import { currentRequestContext } from '../platform/http/request-context.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { redactSummary } from './audit-redaction.ts';
import type { AuditQuery } from './audit-schema.ts';
import { type AuditRow, type Executor, insertAuditRow, listAuditRows } from './audit-store.ts';

/** One mutation, as the audit log keeps it. */
export interface AuditEntry {
  /** Undefined for an anonymous attempt (a failed sign-in). */
  actor: Actor | undefined;
  /** `entity.verb`, e.g. `project.create`, `session.revoke`. */
  action: string;
  entityType: string;
  entityId?: string | undefined;
  projectId?: string | undefined;
  /** What changed; secrets under known key names are blanked before it is stored. */
  summary?: Record<string, unknown> | undefined;
}

/**
 * Writes audit entries. Pass the mutation's transaction as `executor`, so the entry commits
 * or rolls back with the change it describes. Request id and client IP come from the request
 * context when there is one.
 */
export interface AuditRecorder {
  record(executor: Executor, entry: AuditEntry): Promise<void>;
}

export function createAuditRecorder(): AuditRecorder {
  return {
    async record(executor, entry) {
      const context = currentRequestContext();
      const actor = entry.actor;
      await insertAuditRow(executor, {
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
      });
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
