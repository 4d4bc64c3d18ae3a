import { type Kysely, sql } from 'kysely';
import { dropTables } from './migration-helpers.ts';

// Budgets per project (user_id null) or per user in a project, per period. Spend and open
// reservations are kept per budget and period in llm_budget_period, updated under a row lock,
// so concurrent reservations cannot together pass the hard limit. Each open reservation is a
// row too, with an expiry, so a crashed process's reservations are released by a sweep.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table llm_budget (
      id uuid primary key,
      project_id uuid not null references project (id) on delete cascade,
      user_id uuid references app_user (id) on delete cascade,
      period text not null check (period in ('day', 'week', 'month', 'total')),
      hard_limit_nano bigint check (hard_limit_nano >= 0),
      soft_limit_nano bigint check (soft_limit_nano >= 0),
      created_by uuid,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check (hard_limit_nano is not null or soft_limit_nano is not null)
    )
  `.execute(db);
  await sql`
    create unique index llm_budget_scope_idx on llm_budget
      (project_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid), period)
  `.execute(db);

  await sql`
    create table llm_budget_period (
      budget_id uuid not null references llm_budget (id) on delete cascade,
      period_start timestamptz not null,
      spent_nano bigint not null default 0,
      reserved_nano bigint not null default 0 check (reserved_nano >= 0),
      soft_warned_at timestamptz,
      primary key (budget_id, period_start)
    )
  `.execute(db);

  await sql`
    create table llm_budget_reservation (
      id uuid not null,
      budget_id uuid not null,
      period_start timestamptz not null,
      amount_nano bigint not null check (amount_nano >= 0),
      expires_at timestamptz not null,
      primary key (id, budget_id),
      foreign key (budget_id, period_start)
        references llm_budget_period (budget_id, period_start) on delete cascade
    )
  `.execute(db);
  await sql`create index llm_budget_reservation_expiry_idx on llm_budget_reservation (expires_at)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropTables(db, 'llm_budget_reservation', 'llm_budget_period', 'llm_budget');
}
