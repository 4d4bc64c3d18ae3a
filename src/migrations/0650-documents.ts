import { type Kysely, sql } from 'kysely';
import { authorship, projectOwnedRow } from './migration-helpers.ts';

// Documents (issue 17): one row per uploaded file of a documents collection (a dataset whose
// rows hold the extracted text). The original is stored once per content (sha256) under the
// data dir; the same content twice in one collection is refused by the unique key.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table document (
      ${projectOwnedRow},
      dataset_id uuid not null references dataset(id) on delete cascade,
      row_id bigint,
      name text not null,
      kind text,
      media_type text not null,
      size bigint not null,
      sha256 text not null,
      status text not null default 'queued',
      message text,
      pages integer,
      ${authorship},
      constraint document_content_unique unique (dataset_id, sha256)
    )`.execute(db);
  await sql`create index document_queued on document (dataset_id, created_at) where status = 'queued'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table document`.execute(db);
}
