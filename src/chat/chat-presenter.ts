import type { z } from 'zod';
import type {
  messageSchema,
  revisionSchema,
  searchMatchSchema,
  summarySchema,
  threadSchema,
} from './chat-schema.ts';
import {
  HIGHLIGHT_START,
  HIGHLIGHT_STOP,
  type MessageRow,
  type SummaryRow,
  type ThreadRow,
  type ThreadSearchRow,
} from './chat-store.ts';

/** The fields of chat that leave the server; nothing else does. */
export type ThreadView = z.infer<typeof threadSchema>;
export type MessageView = z.infer<typeof messageSchema>;

export const iso = (value: Date | string) => new Date(value).toISOString();

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
    deletedAt: row.deleted_at === null ? null : iso(row.deleted_at),
    purgeAfter: row.purge_after === null ? null : iso(row.purge_after),
  };
}

export type SearchMatchView = z.infer<typeof searchMatchSchema>;

/** `ts_headline` output (matches between private-use marks) as text pieces. */
export function snippetPieces(headline: string): SearchMatchView['snippet'] {
  const pieces: SearchMatchView['snippet'] = [];
  let highlight = false;
  for (const part of headline.split(new RegExp(`([${HIGHLIGHT_START}${HIGHLIGHT_STOP}])`))) {
    if (part === HIGHLIGHT_START) highlight = true;
    else if (part === HIGHLIGHT_STOP) highlight = false;
    else if (part) {
      const last = pieces.at(-1);
      if (last && last.highlight === highlight) last.text += part;
      else pieces.push({ text: part, highlight });
    }
  }
  return pieces;
}

export function presentSearchHit(row: ThreadSearchRow): ThreadView & { match: SearchMatchView } {
  return {
    ...presentThread(row),
    match: {
      messageId: row.match_message_id,
      role: row.match_role,
      createdAt: iso(row.match_created_at),
      matches: Number(row.match_count),
      snippet: snippetPieces(row.headline),
    },
  };
}

const errorOf = (value: unknown): MessageView['error'] => {
  if (!value || typeof value !== 'object') return null;
  const error = value as {
    code?: unknown;
    message?: unknown;
    retryable?: unknown;
    details?: NonNullable<MessageView['error']>['details'];
  };
  return {
    code: String(error.code ?? 'INTERNAL'),
    message: String(error.message ?? 'The reply failed'),
    retryable: error.retryable === true,
    ...(error.details && typeof error.details === 'object' ? { details: error.details } : {}),
  };
};

/** Images (chat-attachments.ts), tool calls and results as stored; anything else is not sent. */
function partsOf(value: unknown): MessageView['parts'] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((part: Record<string, unknown>): MessageView['parts'] => {
    if (part?.type === 'image')
      return [
        {
          type: 'image' as const,
          sha256: String(part.sha256),
          mediaType: String(part.mediaType),
          bytes: Number(part.bytes),
          width: Number(part.width),
          height: Number(part.height),
          name: typeof part.name === 'string' ? part.name : null,
          alt: typeof part.alt === 'string' ? part.alt : null,
        },
      ];
    if (part?.type !== 'tool-call' && part?.type !== 'tool-result') return [];
    // What a call and its result both carry.
    const call = {
      toolCallId: String(part.toolCallId),
      toolName: String(part.toolName),
      step: Number(part.step),
    };
    if (part.type === 'tool-call')
      return [{ type: 'tool-call' as const, ...call, input: part.input ?? null }];
    return [
      {
        type: 'tool-result' as const,
        ...call,
        output: part.output ?? null,
        isError: part.isError === true,
        durationMs: Number(part.durationMs),
      },
    ];
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

/** Chat settings of a project; never saved → no summarizer of its own. */
export function presentSettings(
  row:
    | { summary_model: string | null; summary_provider: string | null; updated_at: Date | string }
    | undefined,
) {
  return {
    summaryModel: row?.summary_model ?? null,
    summaryProvider: row?.summary_provider ?? null,
    updatedAt: row ? iso(row.updated_at) : null,
  };
}
