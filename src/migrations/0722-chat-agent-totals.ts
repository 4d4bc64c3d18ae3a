import { type Kysely, sql } from 'kysely';
import { dropIndexes } from './migration-helpers.ts';

// What an agent cost (docs/chat.md "Model"): its replies' usage rows, found from the replies
// an agent version wrote (`chat_message.agent_id`) to the usage rows naming them
// (`llm_calls.entity_ids->>'messageId'`, feature `chat`), every attempt included.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index chat_message_agent_idx on chat_message (agent_id) where agent_id is not null`.execute(
    db,
  );
  await sql`create index llm_calls_chat_message_idx on llm_calls ((entity_ids->>'messageId')) where feature = 'chat'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await dropIndexes(db, 'llm_calls_chat_message_idx', 'chat_message_agent_idx');
}
