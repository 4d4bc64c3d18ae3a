import { type Kysely, sql } from 'kysely';

// Servers that may hold datasets (issue 20 item 1, docs/decisions/2026-12-07-api-role-holds-no-dataset.md):
// each `all` or `worker` server keeps a row here by heartbeat, with its role and internal URL, so
// an `api` server (which holds no dataset) knows where to send a request for a dataset nobody
// holds. A row past `expires_at` is a server that stopped or died: ignored, overwritten when it
// comes back (its id is kept in its data dir).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create table server_presence (
    server_id text primary key,
    role text not null,
    url text,
    expires_at timestamptz not null,
    heartbeat_at timestamptz not null
  )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table server_presence`.execute(db);
}
