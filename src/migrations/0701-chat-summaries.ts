import { type Kysely, sql } from 'kysely';
import { authorship } from './migration-helpers.ts';

// Visible summaries of a thread (docs/chat.md "Summaries"): one row per window, claimed by
// the request that asks for it (`pending`) before any model is called, so the unique
// (thread, through message) key lets one worker summarize a window, never two.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table chat_summary (
      id uuid primary key,
      thread_id uuid not null references chat_thread(id) on delete cascade,
      through_message_id uuid not null,
      covered_messages integer not null check (covered_messages > 0),
      status text not null check (status in ('pending', 'done', 'error')),
      content text not null default '',
      error jsonb,
      model text not null,
      provider text,
      prompt_version integer not null check (prompt_version >= 1),
      source_tokens integer,
      summary_tokens integer,
      cost_nano bigint,
      run_id uuid,
      ${authorship},
      foreign key (thread_id, through_message_id) references chat_message (thread_id, id) on delete cascade,
      unique (thread_id, through_message_id),
      check (status <> 'done' or length(content) > 0)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table chat_summary`.execute(db);
}
