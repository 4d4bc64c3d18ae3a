import { type Kysely, sql } from 'kysely';

// A run the provider rate limits waits and resumes by itself (it is still `running`); while it
// waits, `waiting` says why and until when: { reason, until, provider, providerName, message }.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table generation_run add column waiting jsonb`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table generation_run drop column waiting`.execute(db);
}
