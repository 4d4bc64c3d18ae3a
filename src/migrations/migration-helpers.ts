import { type Kysely, type RawBuilder, sql } from 'kysely';

// The building blocks the migrations share. Each one sends exactly the SQL the migrations wrote
// out before it existed: a landed migration's statements never change by a byte
// (migration-sql.test.ts holds them). That is also why the tables of 0100–0400 and 0800 keep
// their columns written out: they spell a reference `project (id)`, these blocks `project(id)`.
//
// Names passed here are written in the migration itself, never taken from input.

/** Columns of a `create table`, one per line at the usual six-space indent. */
function columns(...definitions: string[]): RawBuilder<unknown> {
  return sql.raw(definitions.join(',\n      '));
}

/** A row of a project: its own id, and the project it belongs to (deleted with it). */
export const projectOwnedRow = columns(
  'id uuid primary key',
  'project_id uuid not null references project(id) on delete cascade',
);

/** Who created a row (cleared when that user is deleted), when, and when it last changed. */
export const authorship = columns(
  'created_by uuid references app_user(id) on delete set null',
  'created_at timestamptz not null default now()',
  'updated_at timestamptz not null default now()',
);

/** A `down` that drops the tables its `up` created, in the order given (dependents first). */
export async function dropTables(db: Kysely<unknown>, ...tables: string[]): Promise<void> {
  for (const table of tables) await sql`drop table ${sql.raw(table)}`.execute(db);
}

/** Drops indexes on tables that stay, in the order given. */
export async function dropIndexes(db: Kysely<unknown>, ...indexes: string[]): Promise<void> {
  for (const index of indexes) await sql`drop index ${sql.raw(index)}`.execute(db);
}
