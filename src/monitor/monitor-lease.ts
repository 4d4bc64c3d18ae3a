import os from 'node:os';
import { type Kysely, sql } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { uuidv7 } from '../platform/ids.ts';

/**
 * The ingestion lease (migration 0630): with several servers on one PostgreSQL, one at a time
 * imports a project's logs, so no two read the same file at once. A lease lasts `leaseMs`
 * unless renewed; the holder renews it every third of that while it imports and gives it back
 * after. A holder that died loses it when it expires, and the next server takes it over.
 * Within one process the service also queues a project's imports (monitor-service.ts).
 */
export interface IngestLeases {
  /** Who this process is, in the lease table. */
  readonly holder: string;
  /** True when this holder has the project's lease now (taken, or already its own). */
  acquire(projectId: string): Promise<boolean>;
  /** False when the lease is no longer ours (it expired and another server took it). */
  renew(projectId: string): Promise<boolean>;
  release(projectId: string): Promise<void>;
  /** The current holder and expiry, or undefined: for `GET …/files` and tests. */
  find(projectId: string): Promise<{ holder: string; expiresAt: Date } | undefined>;
}

export function createIngestLeases(
  db: Kysely<DB>,
  options: { holder?: string; leaseMs?: number } = {},
): IngestLeases {
  const holder = options.holder ?? `${os.hostname()}:${process.pid}:${uuidv7()}`;
  const leaseMs = options.leaseMs ?? 60_000;
  // The database's clock, never ours: servers' clocks may disagree.
  const expiry = sql`now() + make_interval(secs => ${leaseMs / 1000})`;
  return {
    holder,
    async acquire(projectId) {
      const result = await sql<{ holder: string }>`
        insert into monitor_ingest_lease (project_id, holder, expires_at)
        values (${projectId}, ${holder}, ${expiry})
        on conflict (project_id) do update
          set holder = excluded.holder, expires_at = excluded.expires_at, acquired_at = now()
          where monitor_ingest_lease.expires_at < now()
             or monitor_ingest_lease.holder = excluded.holder
        returning holder`.execute(db);
      return result.rows.length === 1;
    },
    async renew(projectId) {
      const result = await sql`
        update monitor_ingest_lease set expires_at = ${expiry}
        where project_id = ${projectId} and holder = ${holder}`.execute(db);
      return Number(result.numAffectedRows ?? 0) === 1;
    },
    async release(projectId) {
      await sql`
        delete from monitor_ingest_lease
        where project_id = ${projectId} and holder = ${holder}`.execute(db);
    },
    async find(projectId) {
      const result = await sql<{ holder: string; expires_at: Date }>`
        select holder, expires_at from monitor_ingest_lease where project_id = ${projectId}`.execute(
        db,
      );
      const row = result.rows[0];
      return row ? { holder: row.holder, expiresAt: new Date(row.expires_at) } : undefined;
    },
  };
}
