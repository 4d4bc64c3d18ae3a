import { z } from 'zod';

/**
 * Every input of chat crosses one of these schemas, on REST and on the SSE route alike, so a
 * bad field gets the same 400 envelope naming it wherever it arrives (docs/chat.md).
 */
const NO_CONTROL = /^[^\p{Cc}]*$/u;
export const NO_CONTROL_EXCEPT_NEWLINES = /^(?:[^\p{Cc}]|[\n\r\t])*$/u;

/** A message's text; larger messages are refused with 400 naming `content`. */
export const MAX_MESSAGE_CHARS = 100_000;
/** A search query is at most this long. */
export const MAX_SEARCH_CHARS = 500;
/** A page of threads or messages is at most this long. */
export const MAX_PAGE = 200;

/** A one-line name: trimmed, not empty, at most 200 characters, no control characters. */
const lineOfText = () =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(200)
    .regex(NO_CONTROL, 'must not contain control characters');

export const threadTitle = lineOfText();
export const modelName = lineOfText();
export const providerRef = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^(?:env:[a-z-]+|[0-9a-f-]{36})$/, 'must be a provider id or env:<kind>');

const messageText = z
  .string()
  .max(MAX_MESSAGE_CHARS, `must be at most ${MAX_MESSAGE_CHARS} characters`)
  .regex(NO_CONTROL_EXCEPT_NEWLINES, 'must not contain control characters');

export const messageContent = messageText.refine(
  (text) => text.trim().length > 0,
  'must not be empty',
);

/** Images one message may carry. */
export const MAX_MESSAGE_IMAGES = 8;
export const sha256Schema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be a sha256 (64 lowercase hex digits)');

/**
 * An image a send carries: the `sha256` an upload answered (POST …/attachments), with an
 * optional description for readers and models that cannot see it.
 */
export const attachmentReference = z.strictObject({
  sha256: sha256Schema,
  /** The file name the upload answered (shown under the image). */
  name: z
    .string()
    .trim()
    .min(1)
    .max(255)
    .regex(NO_CONTROL, 'must not contain control characters')
    .optional(),
  alt: z
    .string()
    .trim()
    .max(1_000)
    .regex(NO_CONTROL, 'must not contain control characters')
    .optional(),
});
export type AttachmentReference = z.infer<typeof attachmentReference>;

export const projectParams = z.object({ projectId: z.uuid() });
export const threadParams = z.object({ projectId: z.uuid(), threadId: z.uuid() });
export const messageParams = z.object({
  projectId: z.uuid(),
  threadId: z.uuid(),
  messageId: z.uuid(),
});

export const createThreadBody = z
  .strictObject({
    title: threadTitle.default('New chat'),
    /** Default: the agent's model. */
    model: modelName.optional(),
    provider: providerRef.optional(),
    /** An agent of the project: its instructions, model, parameters and tools answer. */
    agentId: z.uuid().optional(),
    instructions: z
      .string()
      .max(20_000)
      .regex(NO_CONTROL_EXCEPT_NEWLINES, 'must not contain control characters')
      .default(''),
  })
  .refine((body) => body.model !== undefined || body.agentId !== undefined, {
    message: 'a model or an agent is required',
    path: ['model'],
  });
export type CreateThreadInput = z.infer<typeof createThreadBody>;

export const updateThreadBody = z
  .strictObject({
    title: threadTitle.optional(),
    pinned: z.boolean().optional(),
    archived: z.boolean().optional(),
    model: modelName.optional(),
    provider: providerRef.nullable().optional(),
    agentId: z.uuid().nullable().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, { message: 'nothing to change' });
export type UpdateThreadInput = z.infer<typeof updateThreadBody>;

const booleanQuery = z.enum(['true', 'false']).transform((value) => value === 'true');

export const listThreadsQuery = z.strictObject({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(30),
  pinned: booleanQuery.optional(),
  archived: booleanQuery.default(false),
  /** "Recently deleted": deleted threads that can still be restored (archived or not). */
  deleted: booleanQuery.default(false),
  /** Threads of this agent only. */
  agentId: z.uuid().optional(),
  /**
   * Full-text search over the messages of every branch (words, "a phrase", `or`, `-word`);
   * each thread found carries its best match as a highlighted snippet.
   */
  q: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(MAX_SEARCH_CHARS, `must be at most ${MAX_SEARCH_CHARS} characters`)
    .regex(NO_CONTROL, 'must not contain control characters')
    .optional(),
});
export type ListThreadsQuery = z.infer<typeof listThreadsQuery>;

export const listMessagesQuery = z.strictObject({
  /** Messages of the current branch before (above) this one; omitted: the last page. */
  before: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50),
});
export type ListMessagesQuery = z.infer<typeof listMessagesQuery>;

export const sendMessageBody = z
  .strictObject({
    /** The text; may be empty when the message carries images. */
    content: messageText.default(''),
    /** Images uploaded to the thread (POST …/attachments), sent as image parts, in order. */
    attachments: z
      .array(attachmentReference)
      .max(MAX_MESSAGE_IMAGES, `at most ${MAX_MESSAGE_IMAGES} images per message`)
      .default([]),
    /** The message this one answers; omitted: the end of the branch shown. */
    parentId: z.uuid().optional(),
    model: modelName.optional(),
    provider: providerRef.optional(),
  })
  .refine((body) => body.content.trim().length > 0 || body.attachments.length > 0, {
    message: 'must not be empty',
    path: ['content'],
  });
export type SendMessageInput = Omit<z.infer<typeof sendMessageBody>, 'attachments'> & {
  attachments?: AttachmentReference[];
};

export const editMessageBody = z.strictObject({
  content: messageContent,
  /** The version the client saw; a stale one gets 409 with the current text. */
  version: z.number().int().min(1),
});
export type EditMessageInput = z.infer<typeof editMessageBody>;

export const regenerateBody = z.strictObject({
  model: modelName.optional(),
  provider: providerRef.optional(),
});
export type RegenerateInput = z.infer<typeof regenerateBody>;

export const selectBranchBody = z.strictObject({ messageId: z.uuid() });

/** Fork: a new thread with the branch up to and including this message. */
export const forkThreadBody = z.strictObject({
  messageId: z.uuid(),
  title: threadTitle.optional(),
});
export type ForkThreadInput = z.infer<typeof forkThreadBody>;

// — what leaves the server —
const usageSchema = z.object({
  uncachedInputTokens: z.number().nullable(),
  cacheReadTokens: z.number().nullable(),
  cacheWriteTokens: z.number().nullable(),
  outputTokens: z.number().nullable(),
  reasoningTokens: z.number().nullable(),
});

export const errorBodySchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  /** A `BUDGET_EXCEEDED` reply's budget: which one, its limit and what was spent. */
  details: z
    .object({
      scope: z.string(),
      period: z.string(),
      limitNano: z.number().nullable(),
      spentNano: z.number(),
    })
    .optional(),
});

/** An image of a user message: bytes in the project's image store, by hash. */
export const imagePartSchema = z.object({
  type: z.literal('image'),
  sha256: z.string(),
  mediaType: z.string(),
  bytes: z.number(),
  width: z.number(),
  height: z.number(),
  /** The file name it was uploaded with. */
  name: z.string().nullable(),
  alt: z.string().nullable(),
});
export type ImagePartView = z.infer<typeof imagePartSchema>;

/** What one upload answers: the reference a send's `attachments` takes. */
export const attachmentSchema = imagePartSchema.omit({ type: true, alt: true });

export const messagePartSchema = z.discriminatedUnion('type', [
  imagePartSchema,
  z.object({
    type: z.literal('tool-call'),
    toolCallId: z.string(),
    toolName: z.string(),
    input: z.unknown(),
    /** The model step that made the call (1, 2, …). */
    step: z.number(),
  }),
  z.object({
    type: z.literal('tool-result'),
    toolCallId: z.string(),
    toolName: z.string(),
    output: z.unknown(),
    isError: z.boolean(),
    durationMs: z.number(),
    step: z.number(),
  }),
]);

export const threadSchema = z.object({
  id: z.uuid(),
  projectId: z.uuid(),
  title: z.string(),
  instructions: z.string(),
  provider: z.string().nullable(),
  model: z.string(),
  pinned: z.boolean(),
  archived: z.boolean(),
  currentLeafId: z.uuid().nullable(),
  /** The agent that answers in this thread (its current version at each reply). */
  agentId: z.uuid().nullable(),
  /** The message of another thread this one was forked from. */
  forkedFromMessageId: z.uuid().nullable(),
  version: z.number(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  /** A deleted thread ("Recently deleted"): when, and when it is purged unless restored. */
  deletedAt: z.iso.datetime().nullable(),
  purgeAfter: z.iso.datetime().nullable(),
});

export const threadTotalsSchema = z.object({
  calls: z.number(),
  inputTokens: z.number(),
  outputTokens: z.number(),
  costNano: z.number(),
  unpricedCalls: z.number(),
});

export const threadDetailSchema = threadSchema.extend({ totals: threadTotalsSchema });

/** Where a search found a thread: its best-ranked message, as text pieces (never HTML). */
export const searchMatchSchema = z.object({
  messageId: z.uuid(),
  role: z.enum(['user', 'assistant']),
  createdAt: z.iso.datetime(),
  /** Messages of the thread that match (every branch). */
  matches: z.number(),
  /** The snippet, in order; `highlight` marks the words that matched. */
  snippet: z.array(z.object({ text: z.string(), highlight: z.boolean() })),
});

export const threadListItemSchema = threadSchema.extend({
  /** Present when the list was searched (`q`). */
  match: searchMatchSchema.optional(),
});

export const threadPageSchema = z.object({
  items: z.array(threadListItemSchema),
  nextCursor: z.string().nullable(),
});

export const messageSchema = z.object({
  id: z.uuid(),
  threadId: z.uuid(),
  parentId: z.uuid().nullable(),
  role: z.enum(['user', 'assistant']),
  content: z.string(),
  reasoning: z.string().nullable(),
  /**
   * A user message's images (`image`), and a reply's tool calls and their results, in order
   * (collapsible parts in the thread).
   */
  parts: z.array(messagePartSchema),
  status: z.enum(['streaming', 'done', 'error', 'stopped']),
  error: errorBodySchema.nullable(),
  provider: z.string().nullable(),
  model: z.string().nullable(),
  /** The agent version the reply ran with (edits of the agent after it do not change it). */
  agentId: z.uuid().nullable(),
  agentVersion: z.number().nullable(),
  usage: usageSchema,
  costNano: z.number().nullable(),
  latencyMs: z.number().nullable(),
  timeToFirstTokenMs: z.number().nullable(),
  version: z.number(),
  editedFromId: z.uuid().nullable(),
  /** This message and its siblings (same parent), oldest first: the branch switcher. */
  siblingIds: z.array(z.uuid()),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export const messagePageSchema = z.object({
  /** Oldest first, along the current branch. */
  items: z.array(messageSchema),
  /** Pass as `before` for the previous page; null at the start of the thread. */
  previousCursor: z.uuid().nullable(),
  /** Resume the thread's event stream after this id: nothing published since is missed. */
  eventId: z.number(),
});

export const revisionSchema = z.object({
  version: z.number(),
  content: z.string(),
  replacedBy: z.uuid().nullable(),
  replacedAt: z.iso.datetime(),
});

export const sendResultSchema = z.object({
  userMessage: messageSchema.nullable(),
  assistantMessage: messageSchema,
  thread: threadSchema,
});

export const summarizeBody = z.strictObject({
  /** The summarizer model; default: the thread's. */
  model: modelName.optional(),
  provider: providerRef.optional(),
});
export type SummarizeInput = z.infer<typeof summarizeBody>;

export const summarySchema = z.object({
  id: z.uuid(),
  threadId: z.uuid(),
  /** The last message the summary covers; replies send what comes after it. */
  throughMessageId: z.uuid(),
  coveredMessages: z.number(),
  status: z.enum(['pending', 'done', 'error']),
  content: z.string(),
  error: errorBodySchema.nullable(),
  model: z.string(),
  provider: z.string().nullable(),
  promptVersion: z.number(),
  /** Tokens of the covered messages and of the summary (the o200k tokenizer). */
  sourceTokens: z.number().nullable(),
  summaryTokens: z.number().nullable(),
  costNano: z.number().nullable(),
  createdAt: z.iso.datetime(),
});
