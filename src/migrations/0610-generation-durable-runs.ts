import { type Kysely, sql } from 'kysely';

// AI-column and generate-rows runs execute on the durable-run engine (issue #13): their lease,
// heartbeat and cancel/pause flags move to `durable_run`, and `generation_run` stays the
// feature's view of a run (scope, estimate, counters, waiting). A generation run that has been
// queued is linked to its durable run, which has the same id. Runs still active are moved over
// as they stand (a running one keeps its lease, so recovery treats it like any other).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table generation_run add column durable_run_id uuid references durable_run (id) on delete set null`.execute(
    db,
  );
  await sql`create unique index generation_run_durable_idx on generation_run (durable_run_id) where durable_run_id is not null`.execute(
    db,
  );
  await sql`
    insert into durable_run (id, kind, project_id, status, input, pause_reason, cancel_requested,
      pause_requested, lease_owner, lease_expires_at, executions, created_at, updated_at, started_at)
    select id, case kind when 'rows' then 'sheets.generate-rows' else 'sheets.generate-column' end,
      project_id, status, jsonb_build_object('runId', id), pause_reason, cancel_requested,
      pause_requested, lease_owner, lease_expires_at, case when started_at is null then 0 else 1 end,
      created_at, updated_at, started_at
    from generation_run where status in ('queued', 'running', 'paused')`.execute(db);
  await sql`update generation_run set durable_run_id = id where status in ('queued', 'running', 'paused')`.execute(
    db,
  );
  await sql`
    alter table generation_run
      drop column lease_owner, drop column lease_expires_at,
      drop column cancel_requested, drop column pause_requested`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table generation_run
      add column cancel_requested boolean not null default false,
      add column pause_requested boolean not null default false,
      add column lease_owner text,
      add column lease_expires_at timestamptz`.execute(db);
  await sql`
    update generation_run g set cancel_requested = d.cancel_requested,
      pause_requested = d.pause_requested, lease_owner = d.lease_owner,
      lease_expires_at = d.lease_expires_at,
      status = case when g.status in ('queued', 'running', 'paused') then d.status else g.status end
    from durable_run d where d.id = g.durable_run_id`.execute(db);
  await sql`delete from durable_run where kind in ('sheets.generate-column', 'sheets.generate-rows')`.execute(
    db,
  );
  await sql`alter table generation_run drop column durable_run_id`.execute(db);
}
