import type { ColumnType, Generated, Kysely } from 'kysely';
import type { DB, NullableTimestamp, Timestamp } from '../migrations/db-schema.ts';

/**
 * The chat tables of migrations 0700–0721, typed beside the feature that owns them and joined to
 * the shared `DB` with `withTables` (src/migrations/db-schema.ts holds the other features').
 */
export type MessageRole = 'user' | 'assistant';
export type MessageStatus = 'streaming' | 'done' | 'error' | 'stopped';

export interface ChatThreadTable {
  id: string;
  project_id: string;
  title: string;
  instructions: Generated<string>;
  provider: string | null;
  model: string;
  pinned: Generated<boolean>;
  archived: Generated<boolean>;
  current_leaf_id: string | null;
  forked_from_message_id: string | null;
  /** The thread's agent (migration 0710); null: instructions and model of the thread alone. */
  agent_id: Generated<string | null>;
  /** Where an imported thread came from and its id there (migration 0721). */
  source: Generated<'chatgpt' | 'claude' | null>;
  source_id: Generated<string | null>;
  version: Generated<number>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
  /** When the purge job deletes a deleted thread for good (migration 0730); null while live. */
  purge_after: Generated<Date | null>;
}

export interface ChatMessageTable {
  id: string;
  thread_id: string;
  parent_id: string | null;
  depth: number;
  role: MessageRole;
  content: Generated<string>;
  reasoning: string | null;
  /** Non-text parts (tool calls and results, images) in order; `[]` for plain text. */
  parts: ColumnType<unknown, string | undefined, string>;
  status: MessageStatus;
  error: ColumnType<unknown, string | null | undefined, string | null>;
  edited_from_id: string | null;
  provider: string | null;
  model: string | null;
  run_id: string | null;
  /** The agent version a reply ran with (migration 0710). */
  agent_id: Generated<string | null>;
  agent_version: Generated<number | null>;
  /** An imported message's id in its source (migration 0721). */
  source_id: Generated<string | null>;
  llm_call_id: string | null;
  uncached_input_tokens: number | null;
  cache_read_tokens: number | null;
  cache_write_tokens: number | null;
  output_tokens: number | null;
  reasoning_tokens: number | null;
  cost_nano: number | null;
  latency_ms: number | null;
  ttft_ms: number | null;
  version: Generated<number>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ChatMessageRevisionTable {
  id: string;
  message_id: string;
  version: number;
  content: string;
  replaced_by: string | null;
  replaced_at: Timestamp;
}

export interface ChatSummaryTable {
  id: string;
  thread_id: string;
  through_message_id: string;
  covered_messages: number;
  status: 'pending' | 'done' | 'error';
  content: Generated<string>;
  error: ColumnType<unknown, string | null | undefined, string | null>;
  model: string;
  provider: string | null;
  prompt_version: number;
  source_tokens: number | null;
  summary_tokens: number | null;
  cost_nano: number | null;
  run_id: string | null;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export const AGENT_TOOLS = ['query_sheet', 'read_rows', 'web_search', 'list_datasets'] as const;
export type AgentToolName = (typeof AGENT_TOOLS)[number];

export interface ChatAgentTable {
  id: string;
  project_id: string;
  name: string;
  current_version: Generated<number>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface ChatAgentVersionTable {
  agent_id: string;
  version: number;
  name: string;
  instructions: Generated<string>;
  provider: string | null;
  model: string;
  parameters: ColumnType<unknown, string | undefined, string>;
  tools: ColumnType<AgentToolName[], AgentToolName[] | undefined, AgentToolName[]>;
  max_tool_steps: Generated<number>;
  /** The model that summarizes this agent's threads (migration 0723); null: the project's. */
  summary_model: Generated<string | null>;
  summary_provider: Generated<string | null>;
  created_by: string | null;
  created_at: Timestamp;
}

/** Chat settings of a project (migration 0723). */
export interface ChatProjectSettingsTable {
  project_id: string;
  summary_model: string | null;
  summary_provider: string | null;
  updated_by: string | null;
  updated_at: Timestamp;
}

// A type alias (not an interface): `withTables` needs an index-compatible record.
export type ChatTables = {
  chat_thread: ChatThreadTable;
  chat_message: ChatMessageTable;
  chat_message_revision: ChatMessageRevisionTable;
  chat_summary: ChatSummaryTable;
  chat_agent: ChatAgentTable;
  chat_agent_version: ChatAgentVersionTable;
  chat_project_settings: ChatProjectSettingsTable;
};

export type ChatDb = Kysely<DB & ChatTables>;

export const chatDb = (db: Kysely<DB>): ChatDb => db.withTables<ChatTables>();
