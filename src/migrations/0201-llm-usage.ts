import { type Kysely, sql } from 'kysely';
import { dropTables } from './migration-helpers.ts';

// Usage: one append-only row per attempt (retries, fallbacks and cache hits included), written
// in batches, and a daily rollup kept in the same transaction as each batch. Token counts the
// provider did not report stay NULL; cost is integer nano-USD, NULL when the price is unknown.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table llm_calls (
      id uuid primary key,
      call_id uuid not null,
      created_at timestamptz not null,
      project_id uuid not null references project (id) on delete cascade,
      user_id uuid,
      feature text not null check (length(feature) between 1 and 64),
      entity_ids jsonb not null default '{}'::jsonb,
      provider_ref text not null,
      provider_kind text not null,
      model text not null,
      attempt smallint not null check (attempt >= 1),
      status text not null check (status in ('ok', 'error', 'timeout', 'aborted', 'cache-hit')),
      error_code text,
      failure_kind text,
      http_status smallint,
      request_id text,
      finish_reason text,
      cache_status text check (cache_status in ('hit', 'miss', 'bypass', 'off')),
      uncached_input_tokens integer,
      cache_read_tokens integer,
      cache_write_tokens integer,
      output_tokens integer,
      reasoning_tokens integer,
      usage_estimated boolean not null default false,
      cost_nano bigint,
      saved_nano bigint,
      latency_ms integer not null,
      ttft_ms integer
    )
  `.execute(db);
  await sql`create index llm_calls_project_time_idx on llm_calls (project_id, created_at)`.execute(
    db,
  );
  await sql`create index llm_calls_call_idx on llm_calls (call_id)`.execute(db);
  // Append-only: a usage row is a record of what happened. Deleting a project still removes its rows.
  await sql`
    create function llm_calls_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'llm_calls is append-only' using errcode = 'restrict_violation';
    end
    $$
  `.execute(db);
  await sql`
    create trigger llm_calls_no_update before update on llm_calls
    for each row execute function llm_calls_append_only()
  `.execute(db);

  await sql`
    create table llm_usage_daily (
      day date not null,
      project_id uuid not null references project (id) on delete cascade,
      provider_kind text not null,
      model text not null,
      feature text not null,
      calls bigint not null default 0,
      attempts bigint not null default 0,
      errors bigint not null default 0,
      cache_hits bigint not null default 0,
      cache_misses bigint not null default 0,
      uncached_input_tokens bigint not null default 0,
      cache_read_tokens bigint not null default 0,
      cache_write_tokens bigint not null default 0,
      output_tokens bigint not null default 0,
      reasoning_tokens bigint not null default 0,
      cost_nano bigint not null default 0,
      unpriced_attempts bigint not null default 0,
      saved_nano bigint not null default 0,
      primary key (project_id, day, provider_kind, model, feature)
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropTables(db, 'llm_usage_daily', 'llm_calls');
  await sql`drop function llm_calls_append_only()`.execute(db);
}
