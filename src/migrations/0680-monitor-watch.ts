import { type Kysely, sql } from 'kysely';

// The monitor's server-side watch (src/monitor/monitor-watch-store.ts): a project's folder under
// BRAINCELLS_MONITOR_ROOTS that every server watches while `enabled`, and what its last cycle
// did (kept here, not in a process, so any server can show the live badge).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table monitor_watch (
      project_id uuid primary key references project (id) on delete cascade,
      path text not null,
      source text not null,
      enabled boolean not null,
      updated_by uuid,
      updated_at timestamptz not null default now(),
      last_cycle_at timestamptz,
      last_import_at timestamptz,
      last_error text
    )`.execute(db);
  await sql`create index monitor_watch_enabled on monitor_watch (project_id) where enabled`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table monitor_watch`.execute(db);
}
