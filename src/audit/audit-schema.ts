import { z } from 'zod';

const label = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, dot, dash or underscore');

export const auditQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.uuid().optional().describe('Return entries older than this entry id (pagination).'),
  action: label.optional().describe('e.g. project.update'),
  entityType: label.optional(),
  entityId: z.string().min(1).max(200).optional(),
  userId: z.uuid().optional().describe('Only entries by this user.'),
});
export type AuditQueryInput = z.infer<typeof auditQuerySchema>;

export interface AuditQuery {
  limit: number;
  before?: string | undefined;
  action?: string | undefined;
  entityType?: string | undefined;
  entityId?: string | undefined;
  actorUserId?: string | undefined;
}

export const adminAuditQuerySchema = auditQuerySchema.extend({
  projectId: z.uuid().optional(),
});

export const auditEntrySchema = z.object({
  id: z.uuid(),
  at: z.iso.datetime(),
  actor: z.object({
    userId: z.uuid().nullable(),
    email: z.string().nullable(),
    via: z.enum(['session', 'api-key', 'system', 'anonymous']),
  }),
  action: z.string(),
  entityType: z.string(),
  entityId: z.string().nullable(),
  projectId: z.uuid().nullable(),
  requestId: z.string().nullable(),
  ip: z.string().nullable().optional(),
  summary: z.record(z.string(), z.unknown()),
});

export const auditPageSchema = z.object({
  items: z.array(auditEntrySchema),
  nextBefore: z.uuid().nullable().describe('Pass as `before` for the next page; null at the end.'),
});
