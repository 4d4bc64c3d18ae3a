import type { AuditLogTable } from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';
import type { Actor } from './actor.ts';

// The audit contract every feature writes through (the recorder itself is src/audit's).

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
  /**
   * The row `record` would write (every column but the time), for a use case that writes it
   * inside one statement of its own (chat's send: docs/chat.md "Time to first token").
   */
  rowOf(entry: AuditEntry): Omit<AuditLogTable, 'at' | 'summary'> & {
    summary: Record<string, unknown>;
  };
}
