import { type Kysely, sql } from 'kysely';

// Append-only record of every mutation. No foreign keys: an entry outlives the user, project
// or object it names. The summary is redacted before it is written (src/audit/audit-redaction.ts).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table audit_log (
      id uuid primary key,
      at timestamptz not null default now(),
      actor_user_id uuid,
      actor_via text not null check (actor_via in ('session', 'api-key', 'system', 'anonymous')),
      credential_id text check (length(credential_id) <= 100),
      action text not null check (length(action) between 1 and 100),
      entity_type text not null check (length(entity_type) between 1 and 100),
      entity_id text check (length(entity_id) <= 200),
      project_id uuid,
      request_id text check (length(request_id) <= 128),
      ip text check (length(ip) <= 100),
      summary jsonb not null default '{}'::jsonb
    )
  `.execute(db);
  await sql`create index audit_log_project_idx on audit_log (project_id, id desc)`.execute(db);
  await sql`create index audit_log_actor_idx on audit_log (actor_user_id, id desc)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table audit_log`.execute(db);
}
