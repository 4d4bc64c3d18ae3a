import type { z } from 'zod';
import type { auditEntrySchema, auditPageSchema } from './audit-schema.ts';
import type { AuditRow } from './audit-store.ts';

type AuditEntryView = z.infer<typeof auditEntrySchema>;

/** Every field of an audit entry that leaves the server. The client IP only for admins. */
export function presentAuditEntry(row: AuditRow, options: { withIp: boolean }): AuditEntryView {
  return {
    id: row.id,
    at: new Date(row.at).toISOString(),
    actor: { userId: row.actor_user_id, email: row.actor_email, via: row.actor_via },
    action: row.action,
    entityType: row.entity_type,
    entityId: row.entity_id,
    projectId: row.project_id,
    requestId: row.request_id,
    ...(options.withIp ? { ip: row.ip } : {}),
    summary: row.summary,
  };
}

export function presentAuditPage(
  rows: AuditRow[],
  limit: number,
  options: { withIp: boolean },
): z.infer<typeof auditPageSchema> {
  return {
    items: rows.map((row) => presentAuditEntry(row, options)),
    nextBefore: rows.length === limit ? (rows.at(-1)?.id ?? null) : null,
  };
}
