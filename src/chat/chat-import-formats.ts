import { z } from 'zod';
import { validationError } from '../platform/app-error.ts';

/**
 * Reading ChatGPT and Claude exports (docs/chat.md "Import and export") into conversations of
 * our shape: pure functions, no database. A file is all one known format or it is refused
 * with a 400 that names where it stopped fitting (`file[2].mapping.abc.parent`), before
 * anything is written.
 *
 * - ChatGPT (`conversations.json` of "Export data"): an array of conversations, each a
 *   `mapping` of nodes `{id, message, parent, children}` — a tree whose root carries no
 *   message — and `current_node`, the leaf shown. Messages are `{id, author.role, create_time
 *   (Unix seconds), content {content_type, parts}, metadata.model_slug, recipient}`.
 * - Claude (`conversations.json` of "Export data"): an array of `{uuid, name, created_at,
 *   chat_messages}`, each message `{uuid, sender: human|assistant, text, content[], created_at,
 *   parent_message_uuid?}`; without `parent_message_uuid` the messages form one chain in order.
 *
 * Only user and assistant text is kept; system prompts, tool traffic, hidden messages and
 * reasoning are left out, and a kept message hangs from its nearest kept ancestor.
 */
export type ImportSource = 'chatgpt' | 'claude';

export interface ImportedMessage {
  sourceId: string;
  parentSourceId: string | null;
  role: 'user' | 'assistant';
  content: string;
  model: string | null;
  createdAt: Date | null;
}

export interface ImportedConversation {
  source: ImportSource;
  sourceId: string;
  title: string;
  model: string | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  /** Parents before children. */
  messages: ImportedMessage[];
  /** The leaf the source showed (its nearest kept message), or the newest leaf. */
  currentLeafSourceId: string | null;
}

export const IMPORT_LIMITS = {
  conversations: 10_000,
  messages: 200_000,
  messageChars: 1_000_000,
} as const;

/** Claude's parent of a conversation's first message. */
const CLAUDE_ROOT = '00000000-0000-4000-8000-000000000000';

const sourceId = z.string().min(1).max(200);
const seconds = z.number().finite().nullish();

const chatgptNode = z.object({
  parent: sourceId.nullish(),
  children: z.array(z.string()).optional(),
  message: z
    .object({
      id: sourceId,
      author: z.object({ role: z.string() }),
      create_time: seconds,
      content: z.object({
        content_type: z.string(),
        parts: z.array(z.unknown()).optional(),
        text: z.string().optional(),
      }),
      metadata: z.record(z.string(), z.unknown()).nullish(),
      recipient: z.string().nullish(),
    })
    .nullish(),
});

const chatgptConversation = z
  .object({
    id: sourceId.optional(),
    conversation_id: sourceId.optional(),
    title: z.string().nullish(),
    create_time: seconds,
    update_time: seconds,
    mapping: z.record(z.string().min(1).max(200), chatgptNode),
    current_node: z.string().nullish(),
    default_model_slug: z.string().nullish(),
  })
  .refine((value) => value.conversation_id !== undefined || value.id !== undefined, {
    message: 'a conversation needs an `id` or `conversation_id`',
    path: ['id'],
  });

const claudeMessage = z.object({
  uuid: sourceId,
  sender: z.enum(['human', 'assistant']),
  text: z.string().nullish(),
  content: z.array(z.object({ type: z.string(), text: z.string().nullish() })).nullish(),
  created_at: z.string().nullish(),
  parent_message_uuid: z.string().nullish(),
  /** Uploaded files and images: not in the export's JSON, so kept as a placeholder line. */
  attachments: z.array(z.object({ file_name: z.string().nullish() })).nullish(),
  files: z.array(z.object({ file_name: z.string().nullish() })).nullish(),
});

const claudeConversation = z.object({
  uuid: sourceId,
  name: z.string().nullish(),
  model: z.string().nullish(),
  created_at: z.string().nullish(),
  updated_at: z.string().nullish(),
  current_leaf_message_uuid: z.string().nullish(),
  chat_messages: z.array(claudeMessage),
});

function formatProblem(message: string, path: string): never {
  throw validationError(message, [{ path, message }]);
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, at: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : `${text}.${String(key)}`),
    at,
  );
  throw validationError(`Not a known chat export: ${path}: ${issue.message}`, [
    { path, message: issue.message },
  ]);
}

/** Which export a parsed file is; a file of neither kind is 400 naming `file`. */
export function detectFormat(data: unknown): { source: ImportSource; items: unknown[] } {
  const items = Array.isArray(data)
    ? data
    : data !== null && typeof data === 'object'
      ? [data]
      : [];
  if (items.length === 0)
    formatProblem('Not a known chat export: expected a list of conversations', 'file');
  if (items.length > IMPORT_LIMITS.conversations)
    formatProblem(`At most ${IMPORT_LIMITS.conversations} conversations per import`, 'file');
  const first = items[0];
  const has = (key: string) => first !== null && typeof first === 'object' && key in first;
  if (has('mapping')) return { source: 'chatgpt', items };
  if (has('chat_messages')) return { source: 'claude', items };
  return formatProblem(
    'Not a known chat export: a conversation has neither `mapping` (ChatGPT) nor `chat_messages` (Claude)',
    'file[0]',
  );
}

const toDate = (value: number | string | null | undefined): Date | null => {
  if (value === null || value === undefined) return null;
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
};

/** PostgreSQL text cannot hold NUL; other characters are kept as they were. */
const cleanText = (text: string) => text.replaceAll('\u0000', '');

/** A title our threads accept: no control characters, 1–200 characters. */
export function importedTitle(title: string | null | undefined): string {
  const clean = (title ?? '')
    .replace(/\p{Cc}+/gu, ' ')
    .trim()
    .slice(0, 200)
    .trim();
  return clean || 'Imported chat';
}

/** The text of a ChatGPT message, or undefined when it is not one a reader sees. */
function chatgptText(message: z.infer<typeof chatgptNode>['message']): string | undefined {
  if (!message) return undefined;
  const role = message.author.role;
  if (role !== 'user' && role !== 'assistant') return undefined;
  if (message.metadata?.is_visually_hidden_from_conversation === true) return undefined;
  // An assistant message addressed to a tool (`recipient: "python"`) is tool traffic.
  if (message.recipient && message.recipient !== 'all') return undefined;
  const { content } = message;
  let text: string;
  if (content.content_type === 'text' || content.content_type === 'multimodal_text')
    text = (content.parts ?? [])
      .map((part) =>
        typeof part === 'string' ? part : attachmentPlaceholder(chatgptFileName(part)),
      )
      .join('\n');
  else if (content.content_type === 'code' && content.text)
    text = `\`\`\`\n${content.text}\n\`\`\``;
  else return undefined;
  return text.trim() ? text : undefined;
}

/**
 * Orders kept nodes parents first and hangs each from its nearest kept ancestor. `parentOf`
 * gives every node's parent in the source (null at a root); a cycle or a dangling parent is
 * a format problem.
 */
function keptTree(
  nodeIds: string[],
  parentOf: (id: string) => string | null,
  kept: (id: string) => boolean,
  at: (id: string) => string,
): { order: string[]; keptParent: Map<string, string | null>; depth: Map<string, number> } {
  const depth = new Map<string, number>();
  const keptParent = new Map<string, string | null>();
  const nearestKept = new Map<string, string | null>();
  for (const start of nodeIds) {
    // Walk up to a node already placed (or a root), then place the path on the way back.
    const path: string[] = [];
    const onPath = new Set<string>();
    let current: string | null = start;
    while (current !== null && !depth.has(current)) {
      if (onPath.has(current)) formatProblem('The messages form a cycle', at(current));
      onPath.add(current);
      path.push(current);
      current = parentOf(current);
    }
    for (let index = path.length - 1; index >= 0; index--) {
      const id = path[index]!;
      const parent = index === path.length - 1 ? current : path[index + 1]!;
      const above = parent === null ? null : (nearestKept.get(parent) ?? null);
      const parentKept = parent !== null && kept(parent);
      const anchor = parentKept ? parent : above;
      keptParent.set(id, anchor);
      nearestKept.set(id, kept(id) ? id : anchor);
      depth.set(id, anchor === null ? 0 : depth.get(anchor)! + 1);
    }
  }
  const order = nodeIds.filter(kept).sort((a, b) => depth.get(a)! - depth.get(b)!);
  return { order, keptParent, depth };
}

function checkSize(content: string, path: string) {
  if (content.length > IMPORT_LIMITS.messageChars)
    formatProblem(`A message is longer than ${IMPORT_LIMITS.messageChars} characters`, path);
}

function readChatgpt(value: unknown, index: number): ImportedConversation {
  const at = `file[${index}]`;
  const conversation = parseOrThrow(chatgptConversation, value, at);
  const nodeIds = Object.keys(conversation.mapping);
  const texts = new Map<string, string>();
  for (const id of nodeIds) {
    const node = conversation.mapping[id]!;
    if (node.parent && !(node.parent in conversation.mapping))
      formatProblem(
        'A message names a parent that is not in the conversation',
        `${at}.mapping.${id}.parent`,
      );
    const text = chatgptText(node.message);
    if (text !== undefined) {
      checkSize(text, `${at}.mapping.${id}.message.content`);
      texts.set(id, cleanText(text));
    }
  }
  const tree = keptTree(
    nodeIds,
    (id) => conversation.mapping[id]!.parent ?? null,
    (id) => texts.has(id),
    (id) => `${at}.mapping.${id}.parent`,
  );
  // Message ids are the stable ones (node ids are usually the same; not always).
  const messageId = (id: string) => conversation.mapping[id]!.message!.id;
  const messages = tree.order.map((id): ImportedMessage => {
    const message = conversation.mapping[id]!.message!;
    const parent = tree.keptParent.get(id) ?? null;
    const slug = message.metadata?.model_slug;
    return {
      sourceId: messageId(id),
      parentSourceId: parent === null ? null : messageId(parent),
      role: message.author.role as 'user' | 'assistant',
      content: texts.get(id)!,
      model: message.author.role === 'assistant' && typeof slug === 'string' ? slug : null,
      createdAt: toDate(message.create_time),
    };
  });
  const current = conversation.current_node;
  const leaf =
    current && current in conversation.mapping
      ? texts.has(current)
        ? current
        : (tree.keptParent.get(current) ?? null)
      : null;
  return {
    source: 'chatgpt',
    sourceId: (conversation.conversation_id ?? conversation.id)!,
    title: importedTitle(conversation.title),
    model:
      conversation.default_model_slug ??
      messages.findLast((message) => message.model !== null)?.model ??
      null,
    createdAt: toDate(conversation.create_time),
    updatedAt: toDate(conversation.update_time),
    messages,
    currentLeafSourceId: leaf === null ? newestLeaf(messages) : messageId(leaf),
  };
}

function claudeText(message: z.infer<typeof claudeMessage>): string {
  const parts = (message.content ?? [])
    .filter((part) => part.type === 'text' && part.text)
    .map((part) => part.text!);
  const text = parts.length > 0 ? parts.join('\n\n') : (message.text ?? '');
  const files = [...(message.attachments ?? []), ...(message.files ?? [])].map((file) =>
    attachmentPlaceholder(file.file_name ?? undefined),
  );
  return [text, ...files].filter(Boolean).join('\n');
}

/**
 * An export's image or file stands in the text as this line: the export holds a pointer to
 * the provider's storage, not the bytes, and an import fetches nothing (docs/chat.md).
 */
export const attachmentPlaceholder = (name: string | undefined) =>
  `[attachment not imported${name ? `: ${name.replace(/[\p{Cc}\]]/gu, '').slice(0, 200)}` : ''}]`;

/** A ChatGPT non-text part's name: an image asset's pointer or a file's name, if any. */
function chatgptFileName(part: unknown): string | undefined {
  if (part === null || typeof part !== 'object') return undefined;
  const record = part as Record<string, unknown>;
  const metadata = record.metadata as Record<string, unknown> | undefined;
  const name = metadata?.file_name ?? record.name ?? record.asset_pointer;
  return typeof name === 'string' ? name : undefined;
}

function readClaude(value: unknown, index: number): ImportedConversation {
  const at = `file[${index}]`;
  const conversation = parseOrThrow(claudeConversation, value, at);
  const byId = new Map(conversation.chat_messages.map((message) => [message.uuid, message]));
  const parents = new Map<string, string | null>();
  const texts = new Map<string, string>();
  conversation.chat_messages.forEach((message, position) => {
    const path = `${at}.chat_messages[${position}]`;
    const parent = message.parent_message_uuid;
    if (parent === undefined || parent === null)
      parents.set(
        message.uuid,
        position === 0 ? null : conversation.chat_messages[position - 1]!.uuid,
      );
    else if (parent === CLAUDE_ROOT) parents.set(message.uuid, null);
    else if (byId.has(parent)) parents.set(message.uuid, parent);
    else
      formatProblem(
        'A message names a parent that is not in the conversation',
        `${path}.parent_message_uuid`,
      );
    const text = claudeText(message);
    if (text.trim()) {
      checkSize(text, `${path}.text`);
      texts.set(message.uuid, cleanText(text));
    }
  });
  const ids = conversation.chat_messages.map((message) => message.uuid);
  const tree = keptTree(
    ids,
    (id) => parents.get(id) ?? null,
    (id) => texts.has(id),
    (id) => `${at}.chat_messages[${ids.indexOf(id)}].parent_message_uuid`,
  );
  const messages = tree.order.map((id): ImportedMessage => {
    const message = byId.get(id)!;
    return {
      sourceId: id,
      parentSourceId: tree.keptParent.get(id) ?? null,
      role: message.sender === 'human' ? 'user' : 'assistant',
      content: texts.get(id)!,
      model: message.sender === 'assistant' ? (conversation.model ?? null) : null,
      createdAt: toDate(message.created_at),
    };
  });
  const current = conversation.current_leaf_message_uuid;
  const leaf =
    current && byId.has(current)
      ? texts.has(current)
        ? current
        : (tree.keptParent.get(current) ?? null)
      : null;
  return {
    source: 'claude',
    sourceId: conversation.uuid,
    title: importedTitle(conversation.name),
    model: conversation.model ?? null,
    createdAt: toDate(conversation.created_at),
    updatedAt: toDate(conversation.updated_at),
    messages,
    currentLeafSourceId: leaf ?? newestLeaf(messages),
  };
}

/** The leaf created last (the end of the branch a reader saw last), or null. */
function newestLeaf(messages: ImportedMessage[]): string | null {
  const parents = new Set(messages.map((message) => message.parentSourceId));
  let newest: ImportedMessage | undefined;
  for (const message of messages) {
    if (parents.has(message.sourceId)) continue;
    if (!newest || (message.createdAt?.getTime() ?? 0) >= (newest.createdAt?.getTime() ?? 0))
      newest = message;
  }
  return newest?.sourceId ?? null;
}

/** Every conversation of an export file (already parsed from JSON), or a 400 naming the problem. */
export function readChatExport(data: unknown): {
  source: ImportSource;
  conversations: ImportedConversation[];
} {
  const { source, items } = detectFormat(data);
  const conversations = items.map((item, index) =>
    source === 'chatgpt' ? readChatgpt(item, index) : readClaude(item, index),
  );
  const seen = new Set<string>();
  let total = 0;
  for (const [index, conversation] of conversations.entries()) {
    if (seen.has(conversation.sourceId))
      formatProblem('The same conversation appears twice in the file', `file[${index}]`);
    seen.add(conversation.sourceId);
    const ids = new Set(conversation.messages.map((message) => message.sourceId));
    if (ids.size !== conversation.messages.length)
      formatProblem('Two messages of a conversation have the same id', `file[${index}]`);
    total += conversation.messages.length;
  }
  if (total > IMPORT_LIMITS.messages)
    formatProblem(`At most ${IMPORT_LIMITS.messages} messages per import`, 'file');
  return { source, conversations };
}

/** Parses an uploaded file's bytes as JSON (keys that could reach a prototype dropped). */
export function parseExportFile(text: string): unknown {
  try {
    return JSON.parse(text, (key, value) =>
      key === '__proto__' || key === 'constructor' ? undefined : value,
    );
  } catch {
    return formatProblem('Not a known chat export: the file is not JSON', 'file');
  }
}
