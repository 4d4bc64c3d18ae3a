import { type Kysely, sql } from 'kysely';

// The monitor's ingestion lease (src/monitor/monitor-lease.ts): one server at a time imports a
// project's coding-agent logs; a holder that dies loses it when `expires_at` passes.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table monitor_ingest_lease (
      project_id uuid primary key references project (id) on delete cascade,
      holder text not null,
      acquired_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table monitor_ingest_lease`.execute(db);
}
