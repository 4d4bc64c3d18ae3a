import type { Kysely } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { AuditEntry, AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { Executor } from '../audit/audit-store.ts';
import { SYSTEM_USER_ID } from '../auth/system-actor.ts';
import type { DB } from '../migrations/db-schema.ts';
import { conflict, notFound, validationError } from '../platform/app-error.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import type { EventBus } from '../platform/events.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { DurableRuns } from '../platform/jobs/durable-run.ts';
import type { Logger } from '../platform/logger.ts';
import type { ChatSettingsInput } from './chat-agent-schema.ts';
import { type AgentVersionRow, findAgent, findAgentVersion } from './chat-agent-store.ts';
import { type ChatAttachments, imagePartsOf } from './chat-attachments.ts';
import {
  type MessageView,
  presentMessage,
  presentRevision,
  presentSearchHit,
  presentSettings,
  presentSummary,
  presentThread,
  type ThreadView,
} from './chat-presenter.ts';
import {
  errorBody,
  MAX_CONTEXT_MESSAGES,
  REPLY_RUN,
  type ReplyContextHandOff,
  type ReplyInput,
  threadStream,
} from './chat-reply-run.ts';
import type {
  CreateThreadInput,
  EditMessageInput,
  ForkThreadInput,
  ListMessagesQuery,
  ListThreadsQuery,
  RegenerateInput,
  SendMessageInput,
  SummarizeInput,
  UpdateThreadInput,
} from './chat-schema.ts';
import {
  branchUpTo,
  type ChatExecutor,
  copyBranch,
  findChatSettings,
  findMessage,
  findThread,
  findThreadById,
  insertRevision,
  insertThread,
  listRevisions,
  listSummaries,
  listThreads,
  type MessageRow,
  newestLeafUnder,
  purgeExpiredThreads,
  replaceContent,
  saveChatSettings,
  searchThreads,
  settleMessage,
  siblingIds,
  streamingMessage,
  type ThreadCursor,
  type ThreadRow,
  threadTotals,
  updateThread,
  writeReply,
} from './chat-store.ts';
import { claimSummaryWindow, startSummaryRun, summarizerFor } from './chat-summary-claim.ts';
import { type ChatDb, chatDb } from './chat-tables.ts';

/**
 * Chat use cases: each checks access on its first line (viewer reads, editor writes), writes
 * in one transaction with its audit entry, then publishes on the thread's stream. Replies are
 * started as durable runs after the commit (chat-reply-run.ts).
 */
export interface ChatServiceDeps {
  db: Kysely<DB>;
  access: ProjectAccess;
  audit: AuditRecorder;
  events: EventBus;
  runs: DurableRuns;
  logger: Logger;
  /** Days a deleted thread can be restored before the purge job deletes it. */
  retentionDays: number;
  /**
   * Given (with the reply run's): a send whose run will execute here reads the run's context
   * in its own statement and hands it over (chat-reply-run.ts).
   */
  handOff?: ReplyContextHandOff;
  /** Images in messages (chat-attachments.ts); absent: a send with attachments is refused. */
  attachments?: Pick<ChatAttachments, 'partsFor' | 'requireVision'>;
}

export interface SendResult {
  userMessage: MessageView | null;
  assistantMessage: MessageView;
  thread: ThreadView;
  /**
   * The reply's durable run (not presented: the CLI executes it in its own process); null for
   * an assistant message edited in place.
   */
  runId: string | null;
}

export interface SendOptions {
  /**
   * The caller executes the reply's run itself, at once (`runs.execute(runId)`, as
   * `braincells chat` does in a process that runs no workers): the run is created reserved
   * for this process, and the send hands it the context it read. A caller that never executes
   * it leaves it to recovery.
   */
  runHere?: boolean;
}

/** Who wrote a row: a user, or nobody for the system actor (the CLI), which has no account row. */
export const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);

const STREAMING_CONFLICT = 'A reply is streaming in this thread; stop it or wait for it to end';

export function encodeCursor(row: { updated_at: Date | string; id: string }): string {
  const updatedAt = new Date(row.updated_at).toISOString();
  return Buffer.from(`${updatedAt}|${row.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): ThreadCursor {
  const [updatedAt, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (
    !updatedAt ||
    !id ||
    Number.isNaN(Date.parse(updatedAt)) ||
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)
  )
    throw validationError('Invalid cursor', [{ path: 'querystring.cursor', message: 'invalid' }]);
  return { updatedAt, id };
}

const agentDeleted = () =>
  conflict("The thread's agent was deleted; choose another agent for the thread", {
    field: 'agentId',
  });

export function createChatService(deps: ChatServiceDeps) {
  const db: ChatDb = chatDb(deps.db);
  const { access, audit, events, runs, logger, handOff } = deps;

  const record = (tx: ChatExecutor, entry: AuditEntry) =>
    audit.record(tx as unknown as Executor, entry);
  /** The audit entry of a thread's (or a message's) change, in the change's transaction. */
  const auditOf =
    (entityType: 'chat-thread' | 'chat-message') =>
    (
      tx: ChatExecutor,
      actor: Actor,
      projectId: string,
      entityId: string,
      action: string,
      summary?: Record<string, unknown>,
    ) =>
      record(tx, {
        actor,
        action: `${entityType}.${action}`,
        entityType,
        entityId,
        projectId,
        ...(summary ? { summary } : {}),
      });
  const auditThread = auditOf('chat-thread');
  const auditMessage = auditOf('chat-message');

  const getThreadRow = async (projectId: string, threadId: string) => {
    const thread = await findThread(db, projectId, threadId);
    if (!thread) throw notFound('thread', threadId);
    return thread;
  };

  const getMessageRow = async (threadId: string, messageId: string) => {
    const message = await findMessage(db, threadId, messageId);
    if (!message) throw notFound('message', messageId);
    return message;
  };

  const withSiblings = async (threadId: string, rows: MessageRow[]) => {
    const siblings = await siblingIds(
      db,
      threadId,
      rows.map((row) => row.parent_id),
    );
    return rows.map((row) => presentMessage(row, siblings.get(row.parent_id) ?? [row.id]));
  };

  const publish = async (threadId: string, type: string, data: unknown) => {
    await events.publish(threadStream(threadId), { type, data });
  };

  /** The current version of the thread's agent; 409 when the agent was deleted. */
  const threadAgent = async (
    tx: ChatExecutor,
    thread: ThreadRow,
  ): Promise<AgentVersionRow | undefined> => {
    if (!thread.agent_id) return undefined;
    const agent = await findAgent(tx, thread.project_id, thread.agent_id);
    if (!agent) throw agentDeleted();
    return findAgentVersion(tx, agent.id, agent.current_version);
  };

  /** An agent of the project (404 otherwise, another project's included). */
  const requireAgent = async (projectId: string, agentId: string) => {
    const agent = await findAgent(db, projectId, agentId);
    if (!agent) throw notFound('agent', agentId);
    return (await findAgentVersion(db, agent.id, agent.current_version))!;
  };

  /**
   * 400 naming `model` when the reply's model (the request's, else the agent's, else the
   * thread's) is not known to take images: checked before anything is written.
   */
  const requireVisionFor = async (thread: ThreadRow, model: string | undefined) => {
    if (!deps.attachments) return;
    const chosen = model ?? (await threadAgent(db, thread))?.model ?? thread.model;
    deps.attachments.requireVision(chosen);
  };

  /** A send's attachments as image parts (each an image of the project), model checked. */
  const imagePartsForSend = async (
    projectId: string,
    threadId: string,
    input: SendMessageInput,
  ): Promise<unknown[]> => {
    const references = input.attachments ?? [];
    if (references.length === 0) return [];
    if (!deps.attachments)
      throw validationError('This server does not take images in chat', [
        { path: 'body.attachments', message: 'not supported' },
      ]);
    const thread = await getThreadRow(projectId, threadId);
    const parts = await deps.attachments.partsFor(projectId, references);
    await requireVisionFor(thread, input.model);
    return parts;
  };

  /**
   * Writes a reply placeholder (and the user message before it, if any) and moves the
   * thread's leaf to it in one transaction; the one-streaming-reply index turns a concurrent
   * second reply into 409. Then starts the reply's run. The run's id is chosen here and stored
   * with the placeholder, and the new messages are published together (one write of the
   * event log): the first token waits on as few statements as the guarantees allow.
   */
  const startReply = async (
    actor: Actor,
    projectId: string,
    threadId: string,
    plan: {
      /** The message answered, or `{ parentId }`: that one (default: the thread's leaf). */
      parent: MessageRow | null | { parentId: string | undefined };
      userContent?: string;
      /** The user message's image parts. */
      userParts?: readonly unknown[];
      editedFromId?: string;
      /** Omitted: the agent's model (its current version), else the thread's. */
      model?: string | undefined;
      provider?: string | null | undefined;
      /** The audit verb of `chat-message.<verb>`. */
      action: 'create' | 'edit' | 'regenerate';
      /** The caller executes the run itself (`SendOptions.runHere`). */
      runHere?: boolean;
    },
  ): Promise<SendResult> => {
    const ref = plan.parent;
    const byId = ref !== null && 'parentId' in ref;
    const userId = plan.userContent === undefined ? null : uuidv7();
    const assistantId = uuidv7();
    // The run's row is inserted by the send's statement, reserved for this process when it runs
    // workers (or when the caller executes it: the CLI): executed here once the events are out
    // (no job to wait for, no second statement to take the run).
    const run = runs.prepare<ReplyInput>({
      kind: REPLY_RUN,
      projectId,
      reserve: plan.runHere ? 'caller' : true,
      input: {
        projectId,
        threadId,
        messageId: assistantId,
        userId: creatorOf(actor),
        // The CLI's replies: the agent's tools act as the system (audited, see ReplyInput).
        ...(actor.via === 'system' && actor.userId === SYSTEM_USER_ID
          ? { toolsAsSystem: true as const }
          : {}),
      },
    });
    const runId = run.id;
    let written: Awaited<ReturnType<typeof writeReply>>;
    try {
      written = await writeReplyFresh(db, {
        projectId,
        threadId,
        parent: byId ? (ref.parentId ?? 'leaf') : (ref?.id ?? null),
        user:
          userId === null
            ? null
            : {
                id: userId,
                content: plan.userContent!,
                editedFromId: plan.editedFromId ?? null,
                parts: plan.userParts ?? [],
              },
        assistantId,
        runId,
        run,
        createdBy: creatorOf(actor),
        model: plan.model ?? null,
        provider: plan.provider ?? null,
        // Read for the run only when it will execute here (else a worker reads it).
        contextLimit: handOff && run.reserved ? MAX_CONTEXT_MESSAGES + 1 : 0,
        audit: audit.rowOf({
          actor,
          action: `chat-message.${plan.action}`,
          entityType: 'chat-message',
          entityId: userId ?? assistantId,
          projectId,
          summary: { threadId, replyId: assistantId },
        }),
      });
    } catch (error) {
      await run.started(undefined);
      if (isUniqueViolation(error)) throw conflict(STREAMING_CONFLICT);
      throw error;
    }
    if (written.outcome !== 'written') await run.started(undefined);
    switch (written.outcome) {
      case 'no-thread':
        throw notFound('thread', threadId);
      case 'no-parent':
        throw validationError('Unknown parent message', [
          { path: 'body.parentId', message: 'not a message of this thread' },
        ]);
      case 'streaming':
        throw conflict(STREAMING_CONFLICT);
      case 'agent-deleted':
        throw agentDeleted();
      case 'no-answer':
        throw validationError('A reply needs a message to answer');
    }
    const { user: userRow = null, assistant: assistantRow, thread: threadRow } = written;
    if (!assistantRow || !threadRow || !written.run)
      throw new Error('the reply was written without its rows');
    let reserved = false;
    try {
      const started = await run.started(written.run);
      reserved = started?.status === 'running';
      if (reserved && handOff && written.context)
        handOff.set(runId, {
          limit: MAX_CONTEXT_MESSAGES + 1,
          ...written.context,
          thread: threadRow,
        });
    } catch (error) {
      // The run is stored, its job could not be sent: recovery queues it again.
      logger.error({ err: error, messageId: assistantId }, 'chat reply failed to start');
      await settleMessage(db, assistantId, {
        status: 'error',
        error: JSON.stringify(errorBody(error)),
      });
      throw error;
    }
    // The first new message joins its parent's children; a reply to a new user message is
    // its only child.
    const siblings = [...written.childIds, userId ?? assistantId].sort();
    const user = userRow ? presentMessage(userRow, siblings) : null;
    const assistant = presentMessage(assistantRow, userRow ? [assistantRow.id] : siblings);
    const thread = presentThread(threadRow);
    // Published in this order and stored together; the run's events come after them (the bus
    // numbers events in the order they are published), so the run starts at once.
    const published = Promise.all([
      ...(user ? [publish(threadId, 'message-created', user)] : []),
      publish(threadId, 'message-created', assistant),
      publish(threadId, 'thread-updated', thread),
    ]);
    if (reserved && !plan.runHere)
      void runs
        .execute(runId)
        .catch((error: unknown) =>
          logger.error({ err: error, runId }, 'chat reply failed to execute'),
        );
    await published;
    return { userMessage: user, assistantMessage: assistant, thread, runId };
  };

  return {
    async createThread(actor: Actor, projectId: string, input: CreateThreadInput) {
      await access.requireRole(actor, projectId, 'editor');
      const agent = input.agentId ? await requireAgent(projectId, input.agentId) : undefined;
      const model = input.model ?? agent!.model;
      const row = await db.transaction().execute(async (tx) => {
        const thread = await insertThread(tx, {
          id: uuidv7(),
          project_id: projectId,
          title: input.title,
          instructions: input.instructions,
          provider: input.provider ?? (input.model ? null : (agent?.provider ?? null)),
          model,
          agent_id: agent?.agent_id ?? null,
          current_leaf_id: null,
          forked_from_message_id: null,
          created_by: creatorOf(actor),
        });
        await auditThread(tx, actor, projectId, thread.id, 'create', {
          title: input.title,
          model,
          agentId: input.agentId ?? null,
        });
        return thread;
      });
      return presentThread(row);
    },

    async listThreads(actor: Actor, projectId: string, query: ListThreadsQuery) {
      await access.requireRole(actor, projectId, 'viewer');
      const options = {
        limit: query.limit + 1,
        archived: query.archived,
        deleted: query.deleted,
        ...(query.pinned === undefined ? {} : { pinned: query.pinned }),
        ...(query.agentId === undefined ? {} : { agentId: query.agentId }),
        ...(query.cursor ? { after: decodeCursor(query.cursor) } : {}),
      };
      if (query.q !== undefined) {
        const rows = await searchThreads(db, projectId, query.q, options);
        const page = rows.slice(0, query.limit);
        return {
          items: page.map(presentSearchHit),
          nextCursor: rows.length > query.limit ? encodeCursor(page.at(-1)!) : null,
        };
      }
      const rows = await listThreads(db, projectId, options);
      const page = rows.slice(0, query.limit);
      return {
        items: page.map(presentThread),
        nextCursor: rows.length > query.limit ? encodeCursor(page.at(-1)!) : null,
      };
    },

    async getThread(actor: Actor, projectId: string, threadId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const thread = await getThreadRow(projectId, threadId);
      return { ...presentThread(thread), totals: await threadTotals(db, projectId, threadId) };
    },

    async updateThread(
      actor: Actor,
      projectId: string,
      threadId: string,
      input: UpdateThreadInput,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      if (input.agentId) await requireAgent(projectId, input.agentId);
      const row = await db.transaction().execute(async (tx) => {
        const thread = await findThread(tx, projectId, threadId, { forUpdate: true });
        if (!thread) throw notFound('thread', threadId);
        const updated = await updateThread(tx, threadId, {
          ...(input.agentId === undefined ? {} : { agent_id: input.agentId }),
          ...(input.title === undefined ? {} : { title: input.title }),
          ...(input.pinned === undefined ? {} : { pinned: input.pinned }),
          ...(input.archived === undefined ? {} : { archived: input.archived }),
          ...(input.model === undefined ? {} : { model: input.model }),
          ...(input.provider === undefined ? {} : { provider: input.provider }),
        });
        await auditThread(tx, actor, projectId, threadId, 'update', { ...input });
        return updated;
      });
      const thread = presentThread(row);
      await publish(threadId, 'thread-updated', thread);
      return thread;
    },

    async deleteThread(actor: Actor, projectId: string, threadId: string) {
      await access.requireRole(actor, projectId, 'editor');
      const streaming = await db.transaction().execute(async (tx) => {
        const thread = await findThread(tx, projectId, threadId, { forUpdate: true });
        if (!thread) throw notFound('thread', threadId);
        const now = new Date();
        const purgeAfter = new Date(now.getTime() + deps.retentionDays * 86_400_000);
        await updateThread(tx, threadId, { deleted_at: now, purge_after: purgeAfter });
        await auditThread(tx, actor, projectId, threadId, 'delete', {
          purgeAfter: purgeAfter.toISOString(),
        });
        return streamingMessage(tx, threadId);
      });
      if (streaming?.run_id) await runs.requestCancel(streaming.run_id);
    },

    /**
     * Brings a deleted thread back ("Recently deleted") until its purge; a live thread is
     * answered as it is. An imported thread whose conversation was imported again since is 409:
     * its source id is taken by the new thread.
     */
    async restoreThread(actor: Actor, projectId: string, threadId: string) {
      await access.requireRole(actor, projectId, 'editor');
      let row: ThreadRow;
      try {
        row = await db.transaction().execute(async (tx) => {
          const deleted = await findThread(tx, projectId, threadId, {
            forUpdate: true,
            deleted: true,
          });
          if (!deleted) {
            const live = await findThread(tx, projectId, threadId);
            if (!live) throw notFound('thread', threadId);
            return live;
          }
          const restored = await updateThread(tx, threadId, {
            deleted_at: null,
            purge_after: null,
          });
          await auditThread(tx, actor, projectId, threadId, 'restore');
          return restored;
        });
      } catch (error) {
        if (isUniqueViolation(error))
          throw conflict(
            'The conversation this thread was imported from was imported again since; the newer thread holds it',
          );
        throw error;
      }
      const thread = presentThread(row);
      await publish(threadId, 'thread-updated', thread);
      return thread;
    },

    /**
     * System use case (the `chat.purge-threads` job): deletes for good the deleted threads whose
     * restore window ended, a batch at a time, each with an audit entry; answers how many.
     */
    async purgeExpiredThreads(actor: Actor, now = new Date()) {
      let purged = 0;
      for (;;) {
        const batch = await db.transaction().execute(async (tx) => {
          const rows = await purgeExpiredThreads(tx, now, 500);
          for (const row of rows) await auditThread(tx, actor, row.project_id, row.id, 'purge');
          return rows.length;
        });
        purged += batch;
        if (batch < 500) return purged;
      }
    },

    /**
     * A page of the current branch, oldest first. `eventId` is read before the rows, so a
     * client that resumes the thread's stream from it misses nothing (see chat-reply-run.ts).
     */
    async listMessages(
      actor: Actor,
      projectId: string,
      threadId: string,
      query: ListMessagesQuery,
    ) {
      await access.requireRole(actor, projectId, 'viewer');
      const eventId = await events.lastId(threadStream(threadId));
      const thread = await getThreadRow(projectId, threadId);
      let from = thread.current_leaf_id;
      if (query.before) {
        const before = await getMessageRow(threadId, query.before);
        from = before.parent_id;
      }
      if (!from) return { items: [], previousCursor: null, eventId };
      const rows = await branchUpTo(db, threadId, from, query.limit);
      const first = rows[0];
      return {
        items: await withSiblings(threadId, rows),
        previousCursor: first && first.parent_id !== null ? first.id : null,
        eventId,
      };
    },

    async sendMessage(
      actor: Actor,
      projectId: string,
      threadId: string,
      input: SendMessageInput,
      options: SendOptions = {},
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const userParts = await imagePartsForSend(projectId, threadId, input);
      // The thread and the parent are read in the reply's transaction.
      return startReply(actor, projectId, threadId, {
        parent: { parentId: input.parentId },
        userContent: input.content,
        userParts,
        model: input.model,
        provider: input.provider,
        action: 'create',
        ...(options.runHere ? { runHere: true } : {}),
      });
    },

    /**
     * A user message: a sibling with the new text, answered (a new branch). An assistant
     * message: changed in place, its previous text kept as a revision. Either way `version`
     * must be the current one (409 with the current text otherwise).
     */
    async editMessage(
      actor: Actor,
      projectId: string,
      threadId: string,
      messageId: string,
      input: EditMessageInput,
    ): Promise<SendResult & { status: 200 | 202 }> {
      await access.requireRole(actor, projectId, 'editor');
      const thread = await getThreadRow(projectId, threadId);
      const message = await getMessageRow(threadId, messageId);
      const stale = () =>
        conflict('The message changed since you loaded it', {
          version: message.version,
          content: message.content,
        });
      if (message.version !== input.version) throw stale();
      if (message.role === 'user') {
        const parent = message.parent_id ? await getMessageRow(threadId, message.parent_id) : null;
        // The edit keeps the message's images: a new text for the same pictures.
        const userParts = imagePartsOf(message.parts);
        if (userParts.length > 0) await requireVisionFor(thread, undefined);
        const result = await startReply(actor, projectId, threadId, {
          parent,
          userContent: input.content,
          userParts,
          editedFromId: message.id,
          action: 'edit',
        });
        return { ...result, status: 202 };
      }
      if (message.status === 'streaming') throw conflict(STREAMING_CONFLICT);
      const edited = await db.transaction().execute(async (tx) => {
        const row = await replaceContent(tx, messageId, input.version, input.content);
        if (!row) {
          const current = await findMessage(tx, threadId, messageId);
          if (current?.status === 'streaming') throw conflict(STREAMING_CONFLICT);
          throw conflict('The message changed since you loaded it', {
            version: current?.version,
            content: current?.content,
          });
        }
        await insertRevision(tx, {
          id: uuidv7(),
          messageId,
          version: input.version,
          content: message.content,
          replacedBy: creatorOf(actor),
        });
        await auditMessage(tx, actor, projectId, messageId, 'edit', {
          threadId,
          version: row.version,
        });
        return row;
      });
      const [view] = await withSiblings(threadId, [edited]);
      await publish(threadId, 'message-updated', view);
      return {
        userMessage: null,
        assistantMessage: view!,
        thread: presentThread(thread),
        runId: null,
        status: 200,
      };
    },

    /** A sibling reply to the same user message, optionally from another model. */
    async regenerate(
      actor: Actor,
      projectId: string,
      threadId: string,
      messageId: string,
      input: RegenerateInput,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const thread = await getThreadRow(projectId, threadId);
      const message = await getMessageRow(threadId, messageId);
      if (message.role !== 'assistant' || !message.parent_id)
        throw validationError('Only a reply can be regenerated', [
          { path: 'params.messageId', message: 'not an assistant message' },
        ]);
      const parent = await getMessageRow(threadId, message.parent_id);
      if (input.model && imagePartsOf(parent.parts).length > 0)
        await requireVisionFor(thread, input.model);
      return startReply(actor, projectId, threadId, {
        parent,
        model: input.model ?? message.model ?? undefined,
        provider: input.provider ?? (input.model ? null : message.provider),
        action: 'regenerate',
      });
    },

    /**
     * A new thread holding the branch from the root to `messageId` (copied, new ids), with
     * `forkedFromMessageId`, the same agent, model and instructions; the original is unchanged.
     */
    async forkThread(actor: Actor, projectId: string, threadId: string, input: ForkThreadInput) {
      await access.requireRole(actor, projectId, 'editor');
      const source = await getThreadRow(projectId, threadId);
      const message = await getMessageRow(threadId, input.messageId);
      if (message.status === 'streaming') throw conflict(STREAMING_CONFLICT);
      const branch = await branchUpTo(db, threadId, message.id, 100_000);
      const row = await db.transaction().execute(async (tx) => {
        const forkId = uuidv7();
        await insertThread(tx, {
          id: forkId,
          project_id: projectId,
          title: input.title ?? `${source.title.slice(0, 190)} (fork)`,
          instructions: source.instructions,
          provider: source.provider,
          model: source.model,
          agent_id: source.agent_id,
          current_leaf_id: null,
          forked_from_message_id: message.id,
          created_by: creatorOf(actor),
        });
        const leaf = await copyBranch(tx, forkId, branch, uuidv7);
        const thread = await updateThread(tx, forkId, { current_leaf_id: leaf });
        await auditThread(tx, actor, projectId, forkId, 'fork', {
          fromThreadId: threadId,
          fromMessageId: message.id,
          messages: branch.length,
        });
        return thread;
      });
      return presentThread(row);
    },

    /** Shows the branch through `messageId` (down to its newest leaf). */
    async selectBranch(actor: Actor, projectId: string, threadId: string, messageId: string) {
      await access.requireRole(actor, projectId, 'editor');
      await getMessageRow(threadId, messageId);
      const row = await db.transaction().execute(async (tx) => {
        const thread = await findThread(tx, projectId, threadId, { forUpdate: true });
        if (!thread) throw notFound('thread', threadId);
        const leaf = await newestLeafUnder(tx, threadId, messageId);
        const updated = await updateThread(tx, threadId, { current_leaf_id: leaf });
        await auditThread(tx, actor, projectId, threadId, 'select-branch', {
          messageId,
          leafId: leaf,
        });
        return updated;
      });
      const thread = presentThread(row);
      await publish(threadId, 'thread-updated', thread);
      return thread;
    },

    /** Stops a streaming reply: the provider request is aborted, the partial text kept. */
    async stopReply(actor: Actor, projectId: string, threadId: string, messageId: string) {
      await access.requireRole(actor, projectId, 'editor');
      await getThreadRow(projectId, threadId);
      const message = await getMessageRow(threadId, messageId);
      if (message.status !== 'streaming' || !message.run_id) {
        if (message.status === 'streaming') throw conflict('The reply is starting; try again');
        return (await withSiblings(threadId, [message]))[0]!;
      }
      const run = await runs.requestCancel(message.run_id);
      // The placeholder names its run before the run is stored (startReply): not there yet.
      if (!run) throw conflict('The reply is starting; try again');
      // A run cancelled before any worker took it never settles its message: do it here.
      if (run.status === 'cancelled') {
        const settled = await settleMessage(db, messageId, { status: 'stopped' });
        if (settled) await publish(threadId, 'message-updated', presentMessage(settled));
      }
      await db
        .transaction()
        .execute((tx) => auditMessage(tx, actor, projectId, messageId, 'stop', { threadId }));
      return (await withSiblings(threadId, [await getMessageRow(threadId, messageId)]))[0]!;
    },

    async listRevisions(actor: Actor, projectId: string, threadId: string, messageId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await getThreadRow(projectId, threadId);
      await getMessageRow(threadId, messageId);
      return (await listRevisions(db, messageId)).map(presentRevision);
    },

    /**
     * "Summarize now": claims the window from the previous summary (or the start) to the
     * message before the last exchange, and starts the summary run. The window's row is
     * unique, so a second request for it (or a second worker) gets 409, never a second call.
     */
    async summarize(actor: Actor, projectId: string, threadId: string, input: SummarizeInput) {
      await access.requireRole(actor, projectId, 'editor');
      const thread = await getThreadRow(projectId, threadId);
      const summarizer =
        input.model !== undefined
          ? { model: input.model, provider: input.provider ?? null }
          : await summarizerFor(
              db,
              projectId,
              thread.agent_id ? await threadAgent(db, thread).catch(() => undefined) : undefined,
              { model: thread.model, provider: input.provider ?? thread.provider },
            );
      const claim = await claimSummaryWindow(db, thread, {
        ...summarizer,
        userId: creatorOf(actor),
        onClaimed: (tx, row) =>
          auditThread(tx, actor, projectId, threadId, 'summarize', {
            summaryId: row.id,
            coveredMessages: row.covered_messages,
          }),
      });
      if (!claim.ok)
        throw conflict(
          claim.reason === 'streaming'
            ? STREAMING_CONFLICT
            : claim.reason === 'claimed'
              ? 'This part of the thread is already summarized'
              : 'Nothing new to summarize yet',
        );
      await startSummaryRun(db, runs, {
        projectId,
        threadId,
        summaryId: claim.summary.id,
        userId: creatorOf(actor),
      });
      await publish(threadId, 'summary-updated', { id: claim.summary.id, status: 'pending' });
      return presentSummary(claim.summary);
    },

    async listSummaries(actor: Actor, projectId: string, threadId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await getThreadRow(projectId, threadId);
      return (await listSummaries(db, threadId)).map(presentSummary);
    },

    /** Chat settings of the project (the summarizer model); defaults when never saved. */
    async getSettings(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return presentSettings(await findChatSettings(db, projectId));
    },

    async updateSettings(actor: Actor, projectId: string, input: ChatSettingsInput) {
      await access.requireRole(actor, projectId, 'editor');
      const row = await db.transaction().execute(async (tx) => {
        const saved = await saveChatSettings(tx, {
          project_id: projectId,
          summary_model: input.summaryModel,
          summary_provider: input.summaryModel === null ? null : input.summaryProvider,
          updated_by: creatorOf(actor),
        });
        await record(tx, {
          actor,
          action: 'chat-settings.update',
          entityType: 'project',
          entityId: projectId,
          projectId,
          summary: { ...input },
        });
        return saved;
      });
      return presentSettings(row);
    },

    /** A thread named by its id alone (the CLI); its project's access applies. */
    async getThreadById(actor: Actor, threadId: string) {
      const thread = await findThreadById(db, threadId);
      if (!thread) throw notFound('thread', threadId);
      await access.requireRole(actor, thread.project_id, 'viewer');
      return presentThread(thread);
    },

    /** One message as the REST API presents it (with its siblings). */
    async getMessage(actor: Actor, projectId: string, threadId: string, messageId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await getThreadRow(projectId, threadId);
      return (await withSiblings(threadId, [await getMessageRow(threadId, messageId)]))[0]!;
    },

    /** For the SSE route: the access check and the thread's existence. */
    async requireThread(actor: Actor, projectId: string, threadId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await getThreadRow(projectId, threadId);
    },
  };
}

export type ChatService = ReturnType<typeof createChatService>;

/**
 * `writeReply`, asked once more when its verdict could come from a stale snapshot. On
 * PostgreSQL a send that waited for the thread's lock reads the thread as the winner left it
 * (the locked row is re-read) but the messages as they were when its statement began (READ
 * COMMITTED): the leaf it answers — the winner's new reply — is not there yet, and it would
 * say "unknown parent" (400) where the truth is "a reply is streaming" (409). A second
 * statement starts after the winner committed and sees both. Only refusals are asked again; a
 * write is never repeated.
 */
async function writeReplyFresh(
  db: Parameters<typeof writeReply>[0],
  write: Parameters<typeof writeReply>[1],
): ReturnType<typeof writeReply> {
  const first = await writeReply(db, write);
  return STALE_REFUSALS.has(first.outcome) ? writeReply(db, write) : first;
}

const STALE_REFUSALS = new Set<string>(['no-parent', 'no-answer', 'agent-deleted']);
