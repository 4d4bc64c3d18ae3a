import { type Kysely, sql } from 'kysely';

// Chat search over stored vectors (docs/chat.md "Search"). Migration 0720 indexed the
// expression `to_tsvector('simple', left(content, 100000))`: finding the threads was an index
// scan, but ranking a thread's matches, counting them and checking a message against a query
// recomputed the vector of every message looked at (≈ 0.1 ms each), and a page of 50 threads
// looks at thousands. The quiet-machine bench took seconds per search over 100,000 messages.
//
// The vectors now live in their own table, one row per searchable message (every status but
// `streaming`), kept by a trigger in the same statement as the message's insert or update, so
// a message's text and its vector never disagree and no code path can forget one. A table of
// its own rather than a column of `chat_message`: message reads (`select m.*`, pages of a
// branch) never carry a vector along. The `simple` configuration and the first 100,000
// characters as before.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table chat_message_search (
      message_id uuid primary key references chat_message(id) on delete cascade,
      thread_id uuid not null,
      vector tsvector not null
    )`.execute(db);
  await sql`
    create function chat_message_search_sync() returns trigger language plpgsql as $$
    begin
      if new.status = 'streaming' then
        if tg_op = 'UPDATE' and old.status <> 'streaming' then
          delete from chat_message_search where message_id = new.id;
        end if;
        return null;
      end if;
      insert into chat_message_search (message_id, thread_id, vector)
        values (new.id, new.thread_id, to_tsvector('simple'::regconfig, left(new.content, 100000)))
        on conflict (message_id) do update set thread_id = excluded.thread_id, vector = excluded.vector;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger chat_message_search_insert after insert on chat_message
      for each row execute function chat_message_search_sync()`.execute(db);
  // Only when the text or the status changes: a streaming reply's partial text saves skip it.
  await sql`
    create trigger chat_message_search_update after update of content, status on chat_message
      for each row
      when (old.content is distinct from new.content or old.status is distinct from new.status)
      execute function chat_message_search_sync()`.execute(db);
  await sql`
    insert into chat_message_search (message_id, thread_id, vector)
      select id, thread_id, to_tsvector('simple'::regconfig, left(content, 100000))
      from chat_message where status <> 'streaming'`.execute(db);
  await sql`create index chat_message_search_vector_idx on chat_message_search using gin (vector)`.execute(
    db,
  );
  await sql`create index chat_message_search_thread_idx on chat_message_search (thread_id)`.execute(
    db,
  );
  await sql`drop index chat_message_search_idx`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index chat_message_search_idx on chat_message
      using gin (to_tsvector('simple'::regconfig, left(content, 100000)))
      where status <> 'streaming'`.execute(db);
  await sql`drop trigger chat_message_search_update on chat_message`.execute(db);
  await sql`drop trigger chat_message_search_insert on chat_message`.execute(db);
  await sql`drop function chat_message_search_sync()`.execute(db);
  await sql`drop table chat_message_search`.execute(db);
}
