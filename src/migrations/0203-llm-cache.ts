import { type Kysely, sql } from 'kysely';

// Response cache, scoped per project (never shared across projects). The key is the sha256 of
// the canonical JSON of project, provider, model, parameters, messages and output schema.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table llm_cache (
      project_id uuid not null references project (id) on delete cascade,
      key text not null check (key ~ '^[0-9a-f]{64}$'),
      provider_ref text not null,
      model text not null,
      response jsonb not null,
      cost_nano bigint,
      created_at timestamptz not null default now(),
      primary key (project_id, key)
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table llm_cache`.execute(db);
}
