import { type Kysely, sql } from 'kysely';

// A running Hub publish beats (issue 18, docs/images.md "Publish to the Hub"): the server
// running it renews `heartbeat_at`; a publish still `running` whose beat is older than the
// lease was cut off with its server (one of several sharing the database), and is failed —
// resumable by retry — instead of staying `running` for ever.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table hub_publish add column heartbeat_at timestamptz`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table hub_publish drop column heartbeat_at`.execute(db);
}
