import type { Kysely } from 'kysely';
import type { ProjectAccess } from '../access/project-access.ts';
import type { DB } from '../migrations/db-schema.ts';
import { type AuditService, createAuditService } from './audit-service.ts';

/**
 * Wires the audit log's read side (owners and admins list entries). The write side, the
 * `AuditRecorder`, is stateless and made once by the composition root (src/features.ts) before
 * any feature, since every mutation of every feature records through it.
 */
export function createAuditModule(deps: { db: Kysely<DB>; access: ProjectAccess }): {
  log: AuditService;
} {
  return { log: createAuditService({ db: deps.db, access: deps.access }) };
}

export type AuditModule = ReturnType<typeof createAuditModule>;
