import { type Kysely, sql } from 'kysely';

// Sheets, numbered after 0400 because applied migrations must stay a prefix of the list.
// Imports report, per column, the cells that did not convert to the column's type (count and
// the first ones with their source text), like a column type change does.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table dataset_import add column conversions jsonb not null default '[]'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table dataset_import drop column conversions`.execute(db);
}
