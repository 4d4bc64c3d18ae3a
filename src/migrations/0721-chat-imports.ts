import { type Kysely, sql } from 'kysely';

// Imported conversations (docs/chat.md "Import and export") keep the ids they had where they
// came from: a thread records its source (`chatgpt`, `claude`) and the conversation's id, a
// message the source's message id. The unique indexes make a second import of the same file
// add nothing — in the database, not only in code — and let a later export of a conversation
// add just its new messages. A deleted thread frees its source id: importing again restores it
// as a new thread.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table chat_thread
      add column source text check (source in ('chatgpt', 'claude')),
      add column source_id text check (length(source_id) between 1 and 200),
      add constraint chat_thread_source_pair check ((source is null) = (source_id is null))`.execute(
    db,
  );
  await sql`
    create unique index chat_thread_source_idx on chat_thread (project_id, source, source_id)
      where deleted_at is null and source_id is not null`.execute(db);
  await sql`alter table chat_message add column source_id text check (length(source_id) between 1 and 200)`.execute(
    db,
  );
  await sql`
    create unique index chat_message_source_idx on chat_message (thread_id, source_id)
      where source_id is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index chat_message_source_idx`.execute(db);
  await sql`alter table chat_message drop column source_id`.execute(db);
  await sql`drop index chat_thread_source_idx`.execute(db);
  await sql`
    alter table chat_thread
      drop constraint chat_thread_source_pair,
      drop column source_id,
      drop column source`.execute(db);
}
