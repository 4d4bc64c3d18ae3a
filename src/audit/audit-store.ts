import type { Selectable } from 'kysely';
import type { AuditLogTable } from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';

/** Re-exported for the features that record audit entries in their own transactions. */
export type { Executor };

export type AuditRow = Selectable<AuditLogTable> & { actor_email: string | null };

/** A row as written: every column but the time (the database's) and the summary as an object. */
export type NewAuditRow = Omit<Selectable<AuditLogTable>, 'at' | 'summary'> & {
  summary: Record<string, unknown>;
};

export async function insertAuditRow(db: Executor, row: NewAuditRow): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({ ...row, summary: JSON.stringify(row.summary) })
    .execute();
}

export interface AuditFilter {
  projectId?: string | undefined;
  actorUserId?: string | undefined;
  action?: string | undefined;
  entityType?: string | undefined;
  entityId?: string | undefined;
  /** Entries older than this id (ids are UUIDv7, so they sort by time). */
  before?: string | undefined;
  limit: number;
}

export async function listAuditRows(db: Executor, filter: AuditFilter): Promise<AuditRow[]> {
  let query = db
    .selectFrom('audit_log')
    .leftJoin('app_user', 'app_user.id', 'audit_log.actor_user_id')
    .selectAll('audit_log')
    .select('app_user.email as actor_email');
  if (filter.projectId !== undefined)
    query = query.where('audit_log.project_id', '=', filter.projectId);
  if (filter.actorUserId !== undefined) {
    query = query.where('audit_log.actor_user_id', '=', filter.actorUserId);
  }
  if (filter.action !== undefined) query = query.where('audit_log.action', '=', filter.action);
  if (filter.entityType !== undefined) {
    query = query.where('audit_log.entity_type', '=', filter.entityType);
  }
  if (filter.entityId !== undefined)
    query = query.where('audit_log.entity_id', '=', filter.entityId);
  if (filter.before !== undefined) query = query.where('audit_log.id', '<', filter.before);
  return (await query.orderBy('audit_log.id', 'desc').limit(filter.limit).execute()) as AuditRow[];
}
