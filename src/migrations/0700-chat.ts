import { type Kysely, sql } from 'kysely';
import { authorship, dropTables, projectOwnedRow } from './migration-helpers.ts';

// Chat (docs/chat.md): threads of a project, messages as a tree (`parent_id`, the thread's
// `current_leaf_id` picks the branch shown), and every in-place edit of a message as a row of
// `chat_message_revision`. The invariants live here, not only in code:
//   - a message's parent is in the same thread (composite foreign key);
//   - the current leaf is a message of the same thread (composite foreign key);
//   - at most one reply per thread is streaming (partial unique index), so an edit or a second
//     send while a reply streams fails in the database too;
//   - a revision is unique per (message, version): two concurrent edits cannot both land.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table chat_thread (
      ${projectOwnedRow},
      title text not null check (length(title) between 1 and 200),
      instructions text not null default '' check (length(instructions) <= 20000),
      provider text check (length(provider) <= 100),
      model text not null check (length(model) between 1 and 200),
      pinned boolean not null default false,
      archived boolean not null default false,
      current_leaf_id uuid,
      forked_from_message_id uuid,
      version integer not null default 1 check (version >= 1),
      ${authorship},
      deleted_at timestamptz
    )`.execute(db);
  await sql`create index chat_thread_list_idx on chat_thread (project_id, updated_at desc, id desc) where deleted_at is null`.execute(
    db,
  );
  await sql`
    create table chat_message (
      id uuid primary key,
      thread_id uuid not null references chat_thread(id) on delete cascade,
      parent_id uuid,
      depth integer not null check (depth >= 0),
      role text not null check (role in ('user', 'assistant')),
      content text not null default '' check (length(content) <= 1000000),
      reasoning text,
      parts jsonb not null default '[]',
      status text not null check (status in ('streaming', 'done', 'error', 'stopped')),
      error jsonb,
      edited_from_id uuid references chat_message(id) on delete set null,
      provider text,
      model text,
      run_id uuid,
      llm_call_id uuid,
      uncached_input_tokens integer,
      cache_read_tokens integer,
      cache_write_tokens integer,
      output_tokens integer,
      reasoning_tokens integer,
      cost_nano bigint,
      latency_ms integer,
      ttft_ms integer,
      version integer not null default 1 check (version >= 1),
      ${authorship},
      unique (thread_id, id),
      foreign key (thread_id, parent_id) references chat_message (thread_id, id) on delete cascade,
      check ((parent_id is null) = (depth = 0)),
      check (role = 'assistant' or status = 'done')
    )`.execute(db);
  await sql`create index chat_message_children_idx on chat_message (thread_id, parent_id, id)`.execute(
    db,
  );
  await sql`create unique index chat_message_one_streaming_idx on chat_message (thread_id) where status = 'streaming'`.execute(
    db,
  );
  await sql`
    alter table chat_thread add constraint chat_thread_leaf_fk
      foreign key (id, current_leaf_id) references chat_message (thread_id, id)
      deferrable initially deferred`.execute(db);
  await sql`
    create table chat_message_revision (
      id uuid primary key,
      message_id uuid not null references chat_message(id) on delete cascade,
      version integer not null check (version >= 1),
      content text not null,
      replaced_by uuid references app_user(id) on delete set null,
      replaced_at timestamptz not null default now(),
      unique (message_id, version)
    )`.execute(db);
  // Thread totals are read from the usage rows themselves (every attempt, failed ones too).
  await sql`create index llm_calls_chat_thread_idx on llm_calls ((entity_ids->>'threadId')) where feature = 'chat'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index llm_calls_chat_thread_idx`.execute(db);
  await sql`drop table chat_message_revision`.execute(db);
  await sql`alter table chat_thread drop constraint chat_thread_leaf_fk`.execute(db);
  await dropTables(db, 'chat_message', 'chat_thread');
}
