import { type Kysely, sql } from 'kysely';
import { dropTables } from './migration-helpers.ts';

// The gateway (src/gateway, docs/gateway.md): keys outside apps call /v1 with, one project
// each, with their allowed models, rate limits and cache switch. Only the key's sha256 is kept.
// Requests and tokens per key and minute live in gateway_key_window (shared by every server;
// reserved and settled with single conditional statements). A key's budgets are llm_budget
// rows with gateway_key_id set, so they take the same reservation path as every call.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table gateway_key (
      id uuid primary key,
      project_id uuid not null references project (id) on delete cascade,
      name text not null,
      prefix text not null,
      key_hash text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
      models jsonb not null,
      requests_per_minute integer check (requests_per_minute > 0),
      tokens_per_minute integer check (tokens_per_minute > 0),
      cache boolean not null default false,
      created_by uuid references app_user (id) on delete set null,
      created_at timestamptz not null default now(),
      revoked_at timestamptz,
      last_used_at timestamptz
    )
  `.execute(db);
  await sql`create index gateway_key_project_idx on gateway_key (project_id, created_at)`.execute(
    db,
  );
  await sql`
    create table gateway_key_window (
      key_id uuid not null references gateway_key (id) on delete cascade,
      window_start timestamptz not null,
      requests integer not null default 0,
      tokens bigint not null default 0,
      primary key (key_id, window_start)
    )
  `.execute(db);

  await sql`
    alter table llm_budget
      add column gateway_key_id uuid references gateway_key (id) on delete cascade
  `.execute(db);
  // One budget per scope and period, the scope now including the gateway key.
  await sql`drop index llm_budget_scope_idx`.execute(db);
  await sql`
    create unique index llm_budget_scope_idx on llm_budget (
      project_id,
      coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid),
      coalesce(gateway_key_id, '00000000-0000-0000-0000-000000000000'::uuid),
      period
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`delete from llm_budget where gateway_key_id is not null`.execute(db);
  await sql`drop index llm_budget_scope_idx`.execute(db);
  await sql`alter table llm_budget drop column gateway_key_id`.execute(db);
  await sql`
    create unique index llm_budget_scope_idx on llm_budget
      (project_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), period)
  `.execute(db);
  await dropTables(db, 'gateway_key_window', 'gateway_key');
}
