import { type Kysely, sql } from 'kysely';

// Dataset ownership (issue 20 item 3, docs/decisions/2026-12-06-dataset-ownership.md): one
// server at a time holds a dataset's DuckDB file. `token` grows on every claim (the fencing
// token); a holder renews `expires_at` by heartbeat, and anyone may claim a row past it.
// No foreign key: a lease can outlive its dataset's row for the moment a purge takes.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table dataset_lease (
    dataset_id uuid primary key,
    owner_id text not null,
    owner_url text,
    token integer not null,
    expires_at timestamptz not null,
    renewed_at timestamptz not null
  )`.execute(db);
  await sql`create index dataset_lease_owner_idx on dataset_lease (owner_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table dataset_lease`.execute(db);
}
