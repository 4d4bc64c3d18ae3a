import { type Kysely, sql } from 'kysely';
import { authorship, dropTables, projectOwnedRow } from './migration-helpers.ts';

// Agents of chat (docs/chat.md "Agents"): an agent is a name plus an immutable series of
// versions (instructions, model, parameters, enabled tools). Editing an agent adds a version;
// deleting it hides it (soft delete). A reply records the agent version it ran with, and the
// composite foreign key keeps that version row alive — so an agent edited or deleted while a
// reply runs does not change that reply. The enabled tools are a closed set, checked here too.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table chat_agent (
      ${projectOwnedRow},
      name text not null check (length(name) between 1 and 200),
      current_version integer not null default 1 check (current_version >= 1),
      ${authorship},
      deleted_at timestamptz
    )`.execute(db);
  await sql`create unique index chat_agent_name_idx on chat_agent (project_id, lower(name)) where deleted_at is null`.execute(
    db,
  );
  await sql`create index chat_agent_list_idx on chat_agent (project_id, id) where deleted_at is null`.execute(
    db,
  );
  await sql`
    create table chat_agent_version (
      agent_id uuid not null references chat_agent(id) on delete cascade,
      version integer not null check (version >= 1),
      name text not null check (length(name) between 1 and 200),
      instructions text not null default '' check (length(instructions) <= 20000),
      provider text check (length(provider) <= 100),
      model text not null check (length(model) between 1 and 200),
      parameters jsonb not null default '{}' check (jsonb_typeof(parameters) = 'object'),
      tools text[] not null default '{}'
        check (tools <@ array['query_sheet', 'read_rows', 'web_search']::text[]),
      max_tool_steps integer not null default 4 check (max_tool_steps between 0 and 16),
      created_by uuid references app_user(id) on delete set null,
      created_at timestamptz not null default now(),
      primary key (agent_id, version)
    )`.execute(db);
  await sql`alter table chat_thread add column agent_id uuid references chat_agent(id) on delete set null`.execute(
    db,
  );
  await sql`
    alter table chat_message
      add column agent_id uuid,
      add column agent_version integer,
      add constraint chat_message_agent_version_fk foreign key (agent_id, agent_version)
        references chat_agent_version (agent_id, version) on delete set null,
      add constraint chat_message_agent_pair check ((agent_id is null) = (agent_version is null))`.execute(
    db,
  );
  await sql`create index chat_thread_agent_idx on chat_thread (agent_id) where agent_id is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index chat_thread_agent_idx`.execute(db);
  await sql`
    alter table chat_message
      drop constraint chat_message_agent_pair,
      drop constraint chat_message_agent_version_fk,
      drop column agent_version,
      drop column agent_id`.execute(db);
  await sql`alter table chat_thread drop column agent_id`.execute(db);
  await dropTables(db, 'chat_agent_version', 'chat_agent');
}
