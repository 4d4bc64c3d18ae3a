import { type Kysely, sql } from 'kysely';
import { dropTables } from './migration-helpers.ts';

// The durable-run engine (src/platform/jobs/durable-run.ts): one row per run of any kind, with
// its lease, flags and counters, and one row per completed (or failed) step, so a run that
// resumes after a crash, a pause or a restart skips what it already finished.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table durable_run (
      id uuid primary key,
      kind text not null check (kind ~ '^[a-z0-9-]+\\.[a-z0-9.-]+$'),
      project_id uuid references project(id) on delete cascade,
      status text not null default 'queued'
        check (status in ('queued', 'running', 'paused', 'completed', 'failed', 'cancelled')),
      input jsonb not null default '{}',
      progress jsonb not null default '{}',
      result jsonb,
      error jsonb,
      pause_reason text,
      cancel_requested boolean not null default false,
      pause_requested boolean not null default false,
      lease_owner text,
      lease_expires_at timestamptz,
      executions integer not null default 0,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz
    )`.execute(db);
  await sql`create index durable_run_active_idx on durable_run (kind, status, lease_expires_at) where status in ('queued', 'running')`.execute(
    db,
  );
  await sql`create index durable_run_project_idx on durable_run (project_id, created_at desc)`.execute(
    db,
  );
  await sql`
    create table run_step (
      run_id uuid not null references durable_run(id) on delete cascade,
      step_key text not null check (length(step_key) between 1 and 200),
      status text not null check (status in ('running', 'completed', 'failed')),
      attempts integer not null default 1,
      input_hash text,
      output jsonb,
      error jsonb,
      started_at timestamptz not null default now(),
      finished_at timestamptz,
      primary key (run_id, step_key)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropTables(db, 'run_step', 'durable_run');
}
