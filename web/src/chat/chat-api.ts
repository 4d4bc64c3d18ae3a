import { api } from '../api/api-client.ts';

/** Chat over the REST API (docs/chat.md); live updates come from the thread's event stream. */
export interface ChatThread {
  id: string;
  projectId: string;
  title: string;
  instructions: string;
  provider: string | null;
  model: string;
  pinned: boolean;
  archived: boolean;
  currentLeafId: string | null;
  agentId: string | null;
  forkedFromMessageId: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  /** A deleted thread ("Recently deleted"): restorable until `purgeAfter`. */
  deletedAt: string | null;
  purgeAfter: string | null;
}

export interface ChatThreadDetail extends ChatThread {
  totals: {
    calls: number;
    inputTokens: number;
    outputTokens: number;
    costNano: number;
    unpricedCalls: number;
  };
}

/** A reply's error envelope; a `BUDGET_EXCEEDED` one names its budget. */
export interface ReplyError {
  code: string;
  message: string;
  retryable: boolean;
  details?: {
    scope: string;
    period: string;
    limitNano: number | null;
    spentNano: number;
  };
}

export interface ChatMessage {
  id: string;
  threadId: string;
  parentId: string | null;
  role: 'user' | 'assistant';
  content: string;
  reasoning: string | null;
  /** A user message's images; a reply's tool calls and their results, in order. */
  parts: ChatPart[];
  status: 'streaming' | 'done' | 'error' | 'stopped';
  error: ReplyError | null;
  provider: string | null;
  model: string | null;
  agentId: string | null;
  agentVersion: number | null;
  usage: {
    uncachedInputTokens: number | null;
    cacheReadTokens: number | null;
    cacheWriteTokens: number | null;
    outputTokens: number | null;
    reasoningTokens: number | null;
  };
  costNano: number | null;
  latencyMs: number | null;
  timeToFirstTokenMs: number | null;
  version: number;
  editedFromId: string | null;
  siblingIds: string[];
  createdAt: string;
  updatedAt: string;
}

/** An image of a user message (bytes at `attachmentUrl`). */
export interface ChatImagePart {
  type: 'image';
  sha256: string;
  mediaType: string;
  bytes: number;
  width: number;
  height: number;
  name: string | null;
  alt: string | null;
}

/** What an upload answers: the reference a send's `attachments` takes. */
export type ChatAttachment = Omit<ChatImagePart, 'type' | 'alt'>;

export type ChatPart =
  | ChatImagePart
  | { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown; step: number }
  | {
      type: 'tool-result';
      toolCallId: string;
      toolName: string;
      output: unknown;
      isError: boolean;
      durationMs: number;
      step: number;
    };

export interface ChatSummary {
  id: string;
  threadId: string;
  throughMessageId: string;
  coveredMessages: number;
  status: 'pending' | 'done' | 'error';
  content: string;
  error: { code: string; message: string; retryable: boolean } | null;
  model: string;
  sourceTokens: number | null;
  summaryTokens: number | null;
  costNano: number | null;
  createdAt: string;
}

export interface MessagePage {
  items: ChatMessage[];
  previousCursor: string | null;
  eventId: number;
}

export interface SendResult {
  userMessage: ChatMessage | null;
  assistantMessage: ChatMessage;
  thread: ChatThread;
}

const threads = (projectId: string) =>
  `/api/projects/${encodeURIComponent(projectId)}/chat/threads`;
const thread = (projectId: string, threadId: string) =>
  `${threads(projectId)}/${encodeURIComponent(threadId)}`;
const message = (projectId: string, threadId: string, messageId: string) =>
  `${thread(projectId, threadId)}/messages/${encodeURIComponent(messageId)}`;

/** Where a search found a thread: its best message, as text pieces (`highlight`: a match). */
export interface ChatSearchMatch {
  messageId: string;
  role: 'user' | 'assistant';
  createdAt: string;
  matches: number;
  snippet: { text: string; highlight: boolean }[];
}

export type ChatThreadListItem = ChatThread & { match?: ChatSearchMatch };

export interface ThreadFilter {
  /** Full-text search over every message (words, "a phrase", or, -word). */
  q?: string | undefined;
  agentId?: string | undefined;
  /** "Recently deleted": deleted threads that can still be restored. */
  deleted?: boolean | undefined;
}

/** The project's chat settings (`GET|PUT …/chat/settings`): its summarizer model. */
export interface ChatSettings {
  summaryModel: string | null;
  summaryProvider: string | null;
  updatedAt: string | null;
}

export const chatApi = {
  settings: (projectId: string) =>
    api<ChatSettings>(`/api/projects/${encodeURIComponent(projectId)}/chat/settings`),
  updateSettings: (
    projectId: string,
    input: { summaryModel: string | null; summaryProvider: string | null },
  ) =>
    api<ChatSettings>(`/api/projects/${encodeURIComponent(projectId)}/chat/settings`, {
      method: 'PUT',
      body: input,
    }),
  threads: (projectId: string, cursor?: string, filter: ThreadFilter = {}) =>
    api<{ items: ChatThreadListItem[]; nextCursor: string | null }>(threads(projectId), {
      query: {
        limit: 50,
        cursor,
        q: filter.q || undefined,
        agentId: filter.agentId || undefined,
        deleted: filter.deleted ? 'true' : undefined,
      },
    }),
  deleteThread: (projectId: string, threadId: string) =>
    api<null>(thread(projectId, threadId), { method: 'DELETE' }),
  restoreThread: (projectId: string, threadId: string) =>
    api<ChatThread>(`${thread(projectId, threadId)}/restore`, { method: 'POST' }),
  createThread: (
    projectId: string,
    input: {
      title?: string;
      model?: string | undefined;
      provider?: string | undefined;
      agentId?: string | undefined;
    },
  ) => api<ChatThread>(threads(projectId), { method: 'POST', body: input }),
  thread: (projectId: string, threadId: string) =>
    api<ChatThreadDetail>(thread(projectId, threadId)),
  messages: (projectId: string, threadId: string, before?: string) =>
    api<MessagePage>(`${thread(projectId, threadId)}/messages`, {
      query: { limit: 100, before },
    }),
  send: (
    projectId: string,
    threadId: string,
    content: string,
    attachments: readonly ChatAttachment[] = [],
  ) =>
    api<SendResult>(`${thread(projectId, threadId)}/messages`, {
      method: 'POST',
      body: {
        content,
        ...(attachments.length > 0
          ? {
              attachments: attachments.map((attachment) => ({
                sha256: attachment.sha256,
                ...(attachment.name ? { name: attachment.name } : {}),
              })),
            }
          : {}),
      },
    }),
  /** Uploads one image for a message of the thread (checked by the server: type, size, pixels). */
  uploadAttachment: (projectId: string, threadId: string, file: File) => {
    const form = new FormData();
    form.append('file', file, file.name);
    return api<ChatAttachment>(`${thread(projectId, threadId)}/attachments`, {
      method: 'POST',
      body: form,
    });
  },
  /** The image's original bytes, or its 256 px WebP thumbnail. */
  attachmentUrl: (projectId: string, threadId: string, sha256: string, thumbnail = false) =>
    `${thread(projectId, threadId)}/attachments/${encodeURIComponent(sha256)}${thumbnail ? '/thumbnail' : ''}`,
  edit: (
    projectId: string,
    threadId: string,
    messageId: string,
    content: string,
    version: number,
  ) =>
    api<SendResult>(message(projectId, threadId, messageId), {
      method: 'PATCH',
      body: { content, version },
    }),
  regenerate: (projectId: string, threadId: string, messageId: string) =>
    api<SendResult>(`${message(projectId, threadId, messageId)}/regenerate`, {
      method: 'POST',
      body: {},
    }),
  stop: (projectId: string, threadId: string, messageId: string) =>
    api<ChatMessage>(`${message(projectId, threadId, messageId)}/stop`, { method: 'POST' }),
  selectBranch: (projectId: string, threadId: string, messageId: string) =>
    api<ChatThread>(`${thread(projectId, threadId)}/branch`, {
      method: 'POST',
      body: { messageId },
    }),
  fork: (projectId: string, threadId: string, messageId: string) =>
    api<ChatThread>(`${thread(projectId, threadId)}/fork`, {
      method: 'POST',
      body: { messageId },
    }),
  summaries: (projectId: string, threadId: string) =>
    api<{ items: ChatSummary[] }>(`${thread(projectId, threadId)}/summaries`),
  summarize: (projectId: string, threadId: string) =>
    api<ChatSummary>(`${thread(projectId, threadId)}/summaries`, { method: 'POST', body: {} }),
  eventsUrl: (projectId: string, threadId: string, lastEventId: number) =>
    `${thread(projectId, threadId)}/events?lastEventId=${lastEventId}`,
};
