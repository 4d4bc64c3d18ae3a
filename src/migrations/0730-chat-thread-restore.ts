import { type Kysely, sql } from 'kysely';
import { dropIndexes } from './migration-helpers.ts';

// Restoring deleted chat threads (docs/chat.md "Recently deleted"): a deleted thread keeps its
// rows until `purge_after`, when the `chat.purge-threads` job deletes them (messages, revisions
// and summaries go with it by their foreign keys). A live thread has neither time; a deleted
// one has both. The partial indexes serve "Recently deleted" (most recent first, as the live
// list) and the purge job.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table chat_thread add column purge_after timestamptz`.execute(db);
  // Threads deleted before restore existed get the default window from their deletion.
  await sql`update chat_thread set purge_after = deleted_at + interval '30 days' where deleted_at is not null`.execute(
    db,
  );
  await sql`
    alter table chat_thread add constraint chat_thread_purge_after_deleted
      check ((deleted_at is null) = (purge_after is null))`.execute(db);
  await sql`
    create index chat_thread_deleted_idx on chat_thread (project_id, updated_at desc, id desc)
      where deleted_at is not null`.execute(db);
  await sql`create index chat_thread_purge_idx on chat_thread (purge_after) where purge_after is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropIndexes(db, 'chat_thread_purge_idx', 'chat_thread_deleted_idx');
  await sql`
    alter table chat_thread
      drop constraint chat_thread_purge_after_deleted,
      drop column purge_after`.execute(db);
}
