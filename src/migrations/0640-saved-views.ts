import { type Kysely, sql } from 'kysely';
import { authorship } from './migration-helpers.ts';

// Saved views of a dataset (issue 14, item 19): a named filter + sort + search + hidden
// columns, shared by the project. `version` makes updates compare-and-set (no lost update).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table dataset_view (
      id uuid primary key,
      dataset_id uuid not null references dataset(id) on delete cascade,
      name text not null,
      definition jsonb not null,
      version integer not null default 1,
      ${authorship},
      constraint dataset_view_name_unique unique (dataset_id, name)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table dataset_view`.execute(db);
}
