import { type Kysely, sql } from 'kysely';
import { authorship, dropTables, projectOwnedRow } from './migration-helpers.ts';

// Workflows (issue 17, item 3): a definition with numbered, immutable versions; runs pinned to a
// version (the run's id is its durable run's id: src/platform/jobs/durable-run.ts decides lease,
// flags and step checkpoints); a row per step of a run for what the run view shows (status,
// attempts, duration, tokens, cost); approvals; and what each workflow's current version uses,
// so deleting a dataset a workflow reads is refused (409) unless forced.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table workflow (
      ${projectOwnedRow},
      name text not null,
      version integer not null default 1,
      ${authorship},
      deleted_at timestamptz
    )`.execute(db);
  await sql`create unique index workflow_name_unique on workflow (project_id, lower(name)) where deleted_at is null`.execute(
    db,
  );
  await sql`
    create table workflow_version (
      workflow_id uuid not null references workflow(id) on delete cascade,
      version integer not null check (version > 0),
      definition jsonb not null,
      created_by uuid references app_user(id) on delete set null,
      created_at timestamptz not null default now(),
      primary key (workflow_id, version)
    )`.execute(db);
  await sql`
    create table workflow_run (
      -- The same id as its durable run, which is started after this row commits (so no
      -- foreign key: the job may not find a run row that is not there yet).
      id uuid primary key,
      workflow_id uuid not null references workflow(id) on delete cascade,
      version integer not null,
      project_id uuid not null references project(id) on delete cascade,
      inputs jsonb not null default '{}',
      started_by uuid references app_user(id) on delete set null,
      rerun_of uuid references workflow_run(id) on delete set null,
      from_step text,
      created_at timestamptz not null default now(),
      foreign key (workflow_id, version) references workflow_version(workflow_id, version)
    )`.execute(db);
  await sql`create index workflow_run_workflow_idx on workflow_run (workflow_id, created_at desc)`.execute(
    db,
  );
  await sql`
    create table workflow_run_step (
      run_id uuid not null references workflow_run(id) on delete cascade,
      step_id text not null,
      position integer not null,
      kind text not null,
      status text not null
        check (status in ('running', 'retrying', 'waiting', 'completed', 'reused', 'skipped', 'failed')),
      attempts integer not null default 0,
      started_at timestamptz,
      finished_at timestamptz,
      duration_ms integer,
      input_tokens bigint,
      output_tokens bigint,
      cost_nano bigint,
      error jsonb,
      primary key (run_id, step_id)
    )`.execute(db);
  await sql`
    create table workflow_approval (
      run_id uuid not null references workflow_run(id) on delete cascade,
      step_id text not null,
      decision text not null check (decision in ('approved', 'rejected')),
      note text not null default '',
      decided_by uuid references app_user(id) on delete set null,
      decided_at timestamptz not null default now(),
      primary key (run_id, step_id)
    )`.execute(db);
  await sql`
    create table workflow_use (
      workflow_id uuid not null references workflow(id) on delete cascade,
      target_kind text not null check (target_kind in ('dataset', 'document', 'agent')),
      target_id uuid not null,
      primary key (workflow_id, target_kind, target_id)
    )`.execute(db);
  await sql`create index workflow_use_target_idx on workflow_use (target_kind, target_id)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropTables(
    db,
    'workflow_use',
    'workflow_approval',
    'workflow_run_step',
    'workflow_run',
    'workflow_version',
    'workflow',
  );
}
