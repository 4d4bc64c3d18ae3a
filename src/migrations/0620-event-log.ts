import { type Kysely, sql } from 'kysely';

// The event bus's durable log (src/platform/event-log.ts, docs/decisions/2026-12-06-durable-event-ids.md):
// the last events of each live stream with the ids clients saw, so a client that reconnects
// with Last-Event-ID after a restart resumes instead of reloading. Bounded per stream and by
// age; never authoritative data (a lost row means one `resync`, not lost work).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table event_log (
      stream text not null check (length(stream) between 1 and 300),
      id bigint not null check (id > 0),
      type text not null,
      -- JSON text: opaque to the database, and a quarter cheaper to write than jsonb.
      data text not null,
      coalesce_key text,
      created_at timestamptz not null default now(),
      primary key (stream, id)
    )`.execute(db);
  await sql`create index event_log_created_idx on event_log (created_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table event_log`.execute(db);
}
