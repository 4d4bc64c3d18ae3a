import { type Kysely, sql } from 'kysely';
import { dropIndexes } from './migration-helpers.ts';

// The blob sweep (issue 18, docs/images.md "Blob sweep"): when a project last stored each
// image. Storing the same bytes again (a new import, a regenerated cell) renews it, so a link
// is only ever dropped once it is older than the grace period and no cell of the project
// refers to it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table image_blob add column last_linked_at timestamptz not null default now()`.execute(
    db,
  );
  await sql`create index image_blob_last_linked_idx on image_blob (last_linked_at)`.execute(db);
  await sql`create index image_blob_sha256_idx on image_blob (sha256)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropIndexes(db, 'image_blob_sha256_idx', 'image_blob_last_linked_idx');
  await sql`alter table image_blob drop column last_linked_at`.execute(db);
}
