import type { Insertable, Kysely } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { Executor } from '../audit/audit-store.ts';
import type { DB } from '../migrations/db-schema.ts';
import { notFound } from '../platform/app-error.ts';
import { uuidv7 } from '../platform/ids.ts';
import { exportJson, exportMarkdown, type ThreadExport } from './chat-export.ts';
import {
  type ImportedConversation,
  type ImportSource,
  readChatExport,
} from './chat-import-formats.ts';
import { creatorOf } from './chat-service.ts';
import {
  allMessages,
  type ChatExecutor,
  findThread,
  findThreadById,
  findThreadBySource,
  importedMessages,
  insertMessages,
  insertThread,
  updateThread,
} from './chat-store.ts';
import { type ChatDb, type ChatMessageTable, chatDb } from './chat-tables.ts';

/**
 * Export and import of chat (docs/chat.md "Import and export"): a thread with every branch
 * as Markdown or JSON; ChatGPT and Claude exports into threads of a project, keeping their
 * ids, so importing the same file twice adds nothing and a newer export of a conversation
 * adds only its new messages. An import is one transaction: a file that fails anywhere
 * writes nothing.
 */
export interface ChatTransferDeps {
  db: Kysely<DB>;
  access: ProjectAccess;
  audit: AuditRecorder;
  now?: () => Date;
}

export interface ImportOptions {
  /** The model (and provider) the imported threads continue with; default: the source's. */
  model?: string | undefined;
  provider?: string | undefined;
}

export interface ImportedThreadResult {
  threadId: string;
  sourceId: string;
  title: string;
  created: boolean;
  addedMessages: number;
}

export interface ImportResult {
  source: ImportSource;
  conversations: number;
  createdThreads: number;
  addedMessages: number;
  threads: ImportedThreadResult[];
}

/** The model an imported thread answers with when neither the request nor the file names one. */
const FALLBACK_MODEL: Record<ImportSource, string> = {
  chatgpt: 'gpt-4o',
  claude: 'claude-sonnet-4-5',
};

export function createChatTransferService(deps: ChatTransferDeps) {
  const db: ChatDb = chatDb(deps.db);
  const { access, audit } = deps;
  const now = deps.now ?? (() => new Date());

  /** Writes one conversation's missing messages (and its thread when new). */
  const importConversation = async (
    tx: ChatExecutor,
    actor: Actor,
    projectId: string,
    conversation: ImportedConversation,
    options: ImportOptions,
  ): Promise<ImportedThreadResult> => {
    const existing = await findThreadBySource(
      tx,
      projectId,
      conversation.source,
      conversation.sourceId,
    );
    const threadId = existing?.id ?? uuidv7();
    const known = existing
      ? await importedMessages(tx, threadId)
      : new Map<string, { id: string; depth: number }>();
    const rows: Insertable<ChatMessageTable>[] = [];
    for (const message of conversation.messages) {
      if (known.has(message.sourceId)) continue;
      const parent =
        message.parentSourceId === null ? undefined : known.get(message.parentSourceId);
      const id = uuidv7();
      known.set(message.sourceId, { id, depth: parent ? parent.depth + 1 : 0 });
      rows.push({
        id,
        thread_id: threadId,
        parent_id: parent?.id ?? null,
        depth: parent ? parent.depth + 1 : 0,
        role: message.role,
        content: message.content,
        status: 'done',
        model: message.model,
        source_id: message.sourceId,
        created_by: creatorOf(actor),
        ...(message.createdAt
          ? { created_at: message.createdAt, updated_at: message.createdAt }
          : {}),
      });
    }
    const leaf =
      conversation.currentLeafSourceId === null
        ? null
        : (known.get(conversation.currentLeafSourceId)?.id ?? null);
    if (!existing) {
      const at = conversation.updatedAt ?? conversation.createdAt ?? now();
      // The leaf's foreign key is checked at commit, after the messages are in.
      await insertThread(tx, {
        id: threadId,
        project_id: projectId,
        title: conversation.title,
        provider: options.provider ?? null,
        model: options.model ?? conversation.model ?? FALLBACK_MODEL[conversation.source],
        current_leaf_id: leaf,
        forked_from_message_id: null,
        source: conversation.source,
        source_id: conversation.sourceId,
        created_by: creatorOf(actor),
        created_at: conversation.createdAt ?? at,
        updated_at: at,
      });
    }
    await insertMessages(tx, rows);
    if (existing && rows.length > 0) await updateThread(tx, threadId, { current_leaf_id: leaf });
    return {
      threadId,
      sourceId: conversation.sourceId,
      title: existing?.title ?? conversation.title,
      created: !existing,
      addedMessages: rows.length,
    };
  };

  /** The thread with every branch, for `GET …/export` and `braincells chat export`. */
  const exportThread = async (
    actor: Actor,
    projectId: string,
    threadId: string,
    format: 'md' | 'json',
  ): Promise<{ title: string; format: 'md' | 'json'; body: string | ThreadExport }> => {
    await access.requireRole(actor, projectId, 'viewer');
    const thread = await findThread(db, projectId, threadId);
    if (!thread) throw notFound('thread', threadId);
    const rows = await allMessages(db, threadId);
    return {
      title: thread.title,
      format,
      body: format === 'md' ? exportMarkdown(thread, rows, now()) : exportJson(thread, rows, now()),
    };
  };

  return {
    exportThread,

    /** The same, for a thread named by its id alone (the CLI); its project's access applies. */
    async exportThreadById(actor: Actor, threadId: string, format: 'md' | 'json') {
      const thread = await findThreadById(db, threadId);
      if (!thread) throw notFound('thread', threadId);
      return exportThread(actor, thread.project_id, threadId, format);
    },

    /**
     * Imports a parsed ChatGPT or Claude export. The file is read whole before anything is
     * written (a 400 names the first problem); then one transaction writes every
     * conversation, so a failure leaves the project as it was.
     */
    async importExport(
      actor: Actor,
      projectId: string,
      data: unknown,
      options: ImportOptions = {},
    ): Promise<ImportResult> {
      await access.requireRole(actor, projectId, 'editor');
      const { source, conversations } = readChatExport(data);
      const threads = await db.transaction().execute(async (tx) => {
        const results: ImportedThreadResult[] = [];
        for (const conversation of conversations)
          results.push(await importConversation(tx, actor, projectId, conversation, options));
        await audit.record(tx as unknown as Executor, {
          actor,
          action: 'chat-thread.import',
          entityType: 'chat-thread',
          projectId,
          summary: {
            source,
            conversations: conversations.length,
            createdThreads: results.filter((result) => result.created).length,
            addedMessages: results.reduce((sum, result) => sum + result.addedMessages, 0),
          },
        });
        return results;
      });
      return {
        source,
        conversations: conversations.length,
        createdThreads: threads.filter((result) => result.created).length,
        addedMessages: threads.reduce((sum, result) => sum + result.addedMessages, 0),
        threads,
      };
    },
  };
}

export type ChatTransferService = ReturnType<typeof createChatTransferService>;
