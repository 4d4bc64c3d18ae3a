import { type Kysely, sql } from 'kysely';
import { projectOwnedRow } from './migration-helpers.ts';

// Pending staleness checks (src/sheets/generation/generation-staleness.ts): written before a
// cell write commits, deleted once the AI cells reading the changed cells have been checked,
// so a crash between the write and the check leaves a row the next start finishes.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table staleness_pending (
      ${projectOwnedRow},
      dataset_id uuid not null,
      column_ids jsonb not null,
      row_ids jsonb not null,
      created_at timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table staleness_pending`.execute(db);
}
