import { type Kysely, sql } from 'kysely';
import { dropIndexes } from './migration-helpers.ts';

// Full-text search over chat messages (docs/chat.md "Search"): an expression GIN index, not a
// stored column, so reading messages never carries a tsvector along. The `simple` configuration
// (no stemming, no stop words) treats every language alike and exists in PGlite as in
// PostgreSQL. The first 100,000 characters are indexed (a tsvector is at most 1 MB), and
// replies still streaming are left out: their text changes every 100 ms, and the partial index
// skips those writes. chat-store.ts repeats the expression exactly, or the index is not used.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index chat_message_search_idx on chat_message
      using gin (to_tsvector('simple'::regconfig, left(content, 100000)))
      where status <> 'streaming'`.execute(db);
  // The thread list filtered by agent, in list order.
  await sql`
    create index chat_thread_agent_list_idx on chat_thread (project_id, agent_id, updated_at desc, id desc)
      where deleted_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropIndexes(db, 'chat_thread_agent_list_idx', 'chat_message_search_idx');
}
