import { type Kysely, sql } from 'kysely';
import { dropTables } from './migration-helpers.ts';

// AI columns (issue 6): the process that fills a column, its runs, which cells a run has
// finished (so a resumed run never redoes them), and cached web-search results.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table generation_process (
      id uuid primary key,
      project_id uuid not null references project (id) on delete cascade,
      dataset_id uuid not null references dataset (id) on delete cascade,
      column_id uuid not null unique references dataset_column (id) on delete cascade,
      version integer not null default 1 check (version >= 1),
      prompt text not null check (length(prompt) between 1 and 100000),
      instructions text not null default '' check (length(instructions) <= 20000),
      provider text check (length(provider) <= 100),
      model text not null check (length(model) between 1 and 200),
      parameters jsonb not null default '{}',
      output_type text not null check (output_type in ('text', 'number', 'boolean', 'category', 'json')),
      categories jsonb,
      json_schema jsonb,
      search jsonb,
      input_column_ids uuid[] not null default '{}',
      prompt_hash text not null,
      created_by uuid references app_user (id) on delete set null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((output_type = 'category') = (categories is not null)),
      check ((output_type = 'json') = (json_schema is not null))
    )
  `.execute(db);
  await sql`create index generation_process_dataset_idx on generation_process (dataset_id)`.execute(
    db,
  );

  await sql`
    create table generation_run (
      id uuid primary key,
      project_id uuid not null references project (id) on delete cascade,
      dataset_id uuid not null references dataset (id) on delete cascade,
      column_id uuid references dataset_column (id) on delete cascade,
      kind text not null default 'column' check (kind in ('column', 'rows')),
      mode text not null check (mode in ('all', 'empty', 'range', 'errors', 'stale', 'outdated', 'cells', 'rows')),
      scope jsonb not null default '{}',
      status text not null check (status in ('awaiting-confirmation', 'queued', 'running', 'paused', 'cancelled', 'completed', 'failed')),
      pause_reason text check (pause_reason in ('user', 'budget')),
      cancel_requested boolean not null default false,
      pause_requested boolean not null default false,
      process_version integer,
      estimate jsonb,
      total integer not null default 0,
      done integer not null default 0,
      errors integer not null default 0,
      conflicts integer not null default 0,
      cache_hits integer not null default 0,
      search_failures integer not null default 0,
      duplicates integer not null default 0,
      input_tokens bigint not null default 0,
      output_tokens bigint not null default 0,
      cost_nano bigint not null default 0,
      active_ms bigint not null default 0,
      max_row_id bigint,
      error jsonb,
      parent_run_id uuid references generation_run (id) on delete set null,
      lease_owner text,
      lease_expires_at timestamptz,
      created_by uuid references app_user (id) on delete set null,
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz not null default now(),
      check ((kind = 'rows') = (column_id is null))
    )
  `.execute(db);
  await sql`create index generation_run_dataset_idx on generation_run (dataset_id, created_at)`.execute(
    db,
  );
  await sql`create index generation_run_column_idx on generation_run (column_id, created_at)`.execute(
    db,
  );
  await sql`create index generation_run_active_idx on generation_run (status) where status in ('queued', 'running')`.execute(
    db,
  );
  // One column-wide run at a time per column (single-cell regenerations may overlap it; the
  // cells' compare-and-set keeps them apart).
  await sql`
    create unique index generation_run_one_active_idx on generation_run (column_id)
    where status in ('queued', 'running', 'paused') and mode <> 'cells'
  `.execute(db);

  await sql`
    create table generation_run_cell (
      run_id uuid not null references generation_run (id) on delete cascade,
      row_id bigint not null,
      primary key (run_id, row_id)
    )
  `.execute(db);

  await sql`
    create table generation_search_cache (
      key text primary key,
      provider text not null,
      results jsonb not null,
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`create index generation_search_cache_created_idx on generation_search_cache (created_at)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropTables(
    db,
    'generation_search_cache',
    'generation_run_cell',
    'generation_run',
    'generation_process',
  );
}
