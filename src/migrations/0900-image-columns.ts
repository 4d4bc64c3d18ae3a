import { type Kysely, sql } from 'kysely';

// Image columns (issue 18): a column type `image` whose cells hold a reference to bytes in the
// content-addressed blob store under the data dir, and the images each project may read. The
// bytes are stored once per content; `image_blob` says which projects hold them, so a reference
// copied into another project's cell still answers 404 there (docs/images.md).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table dataset_column drop constraint dataset_column_type_check`.execute(db);
  await sql`
    alter table dataset_column add constraint dataset_column_type_check
      check (type in ('text', 'integer', 'number', 'boolean', 'date', 'timestamp', 'json', 'image'))`.execute(
    db,
  );
  await sql`
    create table image_blob (
      project_id uuid not null references project(id) on delete cascade,
      sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
      media_type text not null,
      bytes bigint not null check (bytes > 0),
      width integer not null check (width > 0),
      height integer not null check (height > 0),
      created_at timestamptz not null default now(),
      primary key (project_id, sha256)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table image_blob`.execute(db);
  await sql`update dataset_column set type = 'json' where type = 'image'`.execute(db);
  await sql`alter table dataset_column drop constraint dataset_column_type_check`.execute(db);
  await sql`
    alter table dataset_column add constraint dataset_column_type_check
      check (type in ('text', 'integer', 'number', 'boolean', 'date', 'timestamp', 'json'))`.execute(
    db,
  );
}
