import { type Kysely, sql } from 'kysely';

// The summarizer model (docs/chat.md "Summaries"): chosen per agent (a field of its versions,
// so a reply's summary follows the version it ran with) or per project (one settings row),
// else the reply's model. Both are optional; a provider only goes with a model.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table chat_agent_version
      add column summary_model text check (length(summary_model) between 1 and 200),
      add column summary_provider text check (length(summary_provider) <= 100),
      add constraint chat_agent_version_summary_pair check (summary_model is not null or summary_provider is null)`.execute(
    db,
  );
  await sql`
    create table chat_project_settings (
      project_id uuid primary key references project(id) on delete cascade,
      summary_model text check (length(summary_model) between 1 and 200),
      summary_provider text check (length(summary_provider) <= 100),
      updated_by uuid references app_user(id) on delete set null,
      updated_at timestamptz not null default now(),
      check (summary_model is not null or summary_provider is null)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table chat_project_settings`.execute(db);
  await sql`
    alter table chat_agent_version
      drop constraint chat_agent_version_summary_pair,
      drop column summary_provider,
      drop column summary_model`.execute(db);
}
