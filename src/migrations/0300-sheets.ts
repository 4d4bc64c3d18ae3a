import { type Kysely, sql } from 'kysely';
import { dropTables } from './migration-helpers.ts';

// Sheets metadata. Values live in DuckDB (one table per dataset, named from dataset.id);
// these rows say what the tables mean: names, column types and order, imports.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table dataset (
      id uuid primary key,
      project_id uuid not null references project (id) on delete cascade,
      name text not null check (length(name) between 1 and 200),
      status text not null default 'ready' check (status in ('importing', 'ready', 'failed')),
      created_by uuid references app_user (id) on delete set null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      deleted_at timestamptz,
      purge_after timestamptz
    )
  `.execute(db);
  await sql`create index dataset_project_idx on dataset (project_id, created_at) where deleted_at is null`.execute(
    db,
  );
  await sql`create index dataset_purge_idx on dataset (purge_after) where deleted_at is not null`.execute(
    db,
  );

  await sql`
    create table dataset_column (
      id uuid primary key,
      dataset_id uuid not null references dataset (id) on delete cascade,
      name text not null check (length(name) between 1 and 200),
      type text not null check (type in ('text', 'integer', 'number', 'boolean', 'date', 'timestamp', 'json')),
      kind text not null default 'static' check (kind in ('static', 'formula', 'ai')),
      formula text check (length(formula) <= 4000),
      position integer not null,
      hidden boolean not null default false,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((kind = 'formula') = (formula is not null))
    )
  `.execute(db);
  // Names are unique per dataset regardless of case, so {{Name}} references are unambiguous.
  await sql`create unique index dataset_column_name_idx on dataset_column (dataset_id, lower(name))`.execute(
    db,
  );

  await sql`
    create table dataset_import (
      id uuid primary key,
      project_id uuid not null references project (id) on delete cascade,
      dataset_id uuid references dataset (id) on delete set null,
      source text not null check (source in ('upload', 'url', 'hf', 'path')),
      display_name text not null check (length(display_name) <= 1000),
      format text check (format in ('csv', 'tsv', 'jsonl', 'json', 'parquet', 'xlsx')),
      status text not null check (status in ('uploaded', 'queued', 'running', 'succeeded', 'failed', 'cancelled')),
      options jsonb not null default '{}',
      preview jsonb,
      file_path text,
      size_bytes bigint,
      rows_imported bigint not null default 0,
      bytes_read bigint not null default 0,
      rows_rejected bigint not null default 0,
      rejects jsonb not null default '[]',
      error jsonb,
      job_id text,
      cancel_requested boolean not null default false,
      created_by uuid references app_user (id) on delete set null,
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz
    )
  `.execute(db);
  await sql`create index dataset_import_project_idx on dataset_import (project_id, created_at)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropTables(db, 'dataset_import', 'dataset_column', 'dataset');
}
