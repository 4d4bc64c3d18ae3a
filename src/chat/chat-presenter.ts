import type { z } from 'zod';
import type { messageSchema, revisionSchema, summarySchema, threadSchema } from './chat-schema.ts';
import type { MessageRow, SummaryRow, ThreadRow } from './chat-store.ts';

/** The fields of chat that leave the server; nothing else does. */
export type ThreadView = z.infer<typeof threadSchema>;
export type MessageView = z.infer<typeof messageSchema>;

const iso = (value: Date | string) => new Date(value).toISOString();

export function presentThread(row: ThreadRow): ThreadView {
  return {
    id: row.id,
    projectId: row.project_id,
    title: row.title,
    instructions: row.instructions,
    provider: row.provider,
    model: row.model,
    pinned: row.pinned,
    archived: row.archived,
    currentLeafId: row.current_leaf_id,
    agentId: row.agent_id,
    forkedFromMessageId: row.forked_from_message_id,
    version: row.version,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

const errorOf = (value: unknown): MessageView['error'] => {
  if (!value || typeof value !== 'object') return null;
  const error = value as { code?: unknown; message?: unknown; retryable?: unknown };
  return {
    code: String(error.code ?? 'INTERNAL'),
    message: String(error.message ?? 'The reply failed'),
    retryable: error.retryable === true,
  };
};

/** Tool calls and results as stored (chat-tools.ts); anything else is not sent. */
function partsOf(value: unknown): MessageView['parts'] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((part: Record<string, unknown>): MessageView['parts'] => {
    if (part?.type === 'tool-call')
      return [
        {
          type: 'tool-call' as const,
          toolCallId: String(part.toolCallId),
          toolName: String(part.toolName),
          input: part.input ?? null,
          step: Number(part.step),
        },
      ];
    if (part?.type === 'tool-result')
      return [
        {
          type: 'tool-result' as const,
          toolCallId: String(part.toolCallId),
          toolName: String(part.toolName),
          output: part.output ?? null,
          isError: part.isError === true,
          durationMs: Number(part.durationMs),
          step: Number(part.step),
        },
      ];
    return [];
  });
}

export function presentMessage(row: MessageRow, siblingIds: string[] = [row.id]): MessageView {
  return {
    id: row.id,
    threadId: row.thread_id,
    parentId: row.parent_id,
    role: row.role,
    content: row.content,
    reasoning: row.reasoning,
    parts: partsOf(row.parts),
    status: row.status,
    error: errorOf(row.error),
    provider: row.provider,
    model: row.model,
    agentId: row.agent_id,
    agentVersion: row.agent_version,
    usage: {
      uncachedInputTokens: row.uncached_input_tokens,
      cacheReadTokens: row.cache_read_tokens,
      cacheWriteTokens: row.cache_write_tokens,
      outputTokens: row.output_tokens,
      reasoningTokens: row.reasoning_tokens,
    },
    costNano: row.cost_nano,
    latencyMs: row.latency_ms,
    timeToFirstTokenMs: row.ttft_ms,
    version: row.version,
    editedFromId: row.edited_from_id,
    siblingIds,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function presentRevision(row: {
  version: number;
  content: string;
  replaced_by: string | null;
  replaced_at: Date | string;
}): z.infer<typeof revisionSchema> {
  return {
    version: row.version,
    content: row.content,
    replacedBy: row.replaced_by,
    replacedAt: iso(row.replaced_at),
  };
}

export type SummaryView = z.infer<typeof summarySchema>;

export function presentSummary(row: SummaryRow): SummaryView {
  return {
    id: row.id,
    threadId: row.thread_id,
    throughMessageId: row.through_message_id,
    coveredMessages: row.covered_messages,
    status: row.status,
    content: row.content,
    error: errorOf(row.error),
    model: row.model,
    provider: row.provider,
    promptVersion: row.prompt_version,
    sourceTokens: row.source_tokens,
    summaryTokens: row.summary_tokens,
    costNano: row.cost_nano,
    createdAt: iso(row.created_at),
  };
}
