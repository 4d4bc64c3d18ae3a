import { type Kysely, sql } from 'kysely';

// Instance-wide key/value settings (instance id, first-run state). Later features keep
// their own tables; this one holds what belongs to the installation itself.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table instance_setting (
      key text primary key check (length(key) between 1 and 200),
      value jsonb not null,
      updated_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`
    insert into instance_setting (key, value)
    values ('instance_id', to_jsonb(gen_random_uuid()::text))
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table instance_setting`.execute(db);
}
