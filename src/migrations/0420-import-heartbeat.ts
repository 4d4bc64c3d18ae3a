import { type Kysely, sql } from 'kysely';

// A running import writes its heartbeat every second; one whose heartbeat stops (the server
// running it died) is marked failed and its partial table dropped (sheets.recover-imports).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table dataset_import add column heartbeat_at timestamptz`.execute(db);
  await sql`create index dataset_import_running_idx on dataset_import (heartbeat_at) where status = 'running'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index dataset_import_running_idx`.execute(db);
  await sql`alter table dataset_import drop column heartbeat_at`.execute(db);
}
