import { type Kysely, sql } from 'kysely';

// The `list_datasets` agent tool (docs/chat.md "Agents"): the closed set of tools an agent
// version may enable (checked since 0710) gains it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table chat_agent_version
      drop constraint chat_agent_version_tools_check,
      add constraint chat_agent_version_tools_check
        check (tools <@ array['query_sheet', 'read_rows', 'web_search', 'list_datasets']::text[])`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Versions that enabled the tool lose it (the older check would refuse them).
  await sql`update chat_agent_version set tools = array_remove(tools, 'list_datasets') where 'list_datasets' = any(tools)`.execute(
    db,
  );
  await sql`
    alter table chat_agent_version
      drop constraint chat_agent_version_tools_check,
      add constraint chat_agent_version_tools_check
        check (tools <@ array['query_sheet', 'read_rows', 'web_search']::text[])`.execute(db);
}
