import {
  type Insertable,
  type RawBuilder,
  type Selectable,
  sql,
  type Transaction,
  type Updateable,
} from 'kysely';
import type { AuditLogTable, DB } from '../migrations/db-schema.ts';
import { PREPARED } from '../platform/db/pglite-driver.ts';
import type { PreparedRun } from '../platform/jobs/durable-run.ts';
import type {
  ChatDb,
  ChatMessageTable,
  ChatSummaryTable,
  ChatTables,
  ChatThreadTable,
} from './chat-tables.ts';

/**
 * SQL of chat: rows in, rows out. Messages form a tree; "the branch" of a thread is the path
 * from its current leaf up to the root, read with a recursive query that stops after one page,
 * so a 10,000-message thread opens by reading one page of rows, never the whole thread.
 */
export type ThreadRow = Selectable<ChatThreadTable>;
export type MessageRow = Selectable<ChatMessageTable>;
export type ChatExecutor = ChatDb | Transaction<DB & ChatTables>;

export async function insertThread(db: ChatExecutor, row: Insertable<ChatThreadTable>) {
  return db.insertInto('chat_thread').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findThread(
  db: ChatExecutor,
  projectId: string,
  threadId: string,
  options: { forUpdate?: boolean; deleted?: boolean } = {},
): Promise<ThreadRow | undefined> {
  let query = db
    .selectFrom('chat_thread')
    .selectAll()
    .where('id', '=', threadId)
    .where('project_id', '=', projectId)
    .where('deleted_at', options.deleted ? 'is not' : 'is', null);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** A live thread by id alone (the CLI names a thread without its project). */
export async function findThreadById(
  db: ChatExecutor,
  threadId: string,
): Promise<ThreadRow | undefined> {
  return db
    .selectFrom('chat_thread')
    .selectAll()
    .where('id', '=', threadId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

export interface ThreadCursor {
  updatedAt: string;
  id: string;
}

export interface ThreadFilter {
  archived: boolean;
  /** Deleted threads that can still be restored ("Recently deleted"), archived or not. */
  deleted?: boolean;
  pinned?: boolean;
  agentId?: string;
}

export async function listThreads(
  db: ChatExecutor,
  projectId: string,
  options: ThreadFilter & { limit: number; after?: ThreadCursor },
): Promise<ThreadRow[]> {
  let query = db.selectFrom('chat_thread').selectAll().where('project_id', '=', projectId);
  query = options.deleted
    ? query.where('deleted_at', 'is not', null)
    : query.where('deleted_at', 'is', null).where('archived', '=', options.archived);
  if (options.pinned !== undefined) query = query.where('pinned', '=', options.pinned);
  if (options.agentId !== undefined) query = query.where('agent_id', '=', options.agentId);
  const after = options.after;
  if (after)
    query = query.where((eb) =>
      eb(
        eb.refTuple('updated_at', 'id'),
        '<',
        eb.tuple(sql<Date>`${after.updatedAt}::timestamptz`, sql<string>`${after.id}::uuid`),
      ),
    );
  return query.orderBy('updated_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
}

/**
 * The text-search expression of migration 0720's index, repeated exactly (or the planner cannot
 * use the index): the `simple` configuration over the first 100,000 characters.
 */

/** Marks around a highlighted word in `ts_headline`'s output: private-use characters, removed from the text first. */
export const HIGHLIGHT_START = '\uE000';
export const HIGHLIGHT_STOP = '\uE001';
const HEADLINE_OPTIONS = `StartSel=${HIGHLIGHT_START}, StopSel=${HIGHLIGHT_STOP}, MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "`;

export interface ThreadSearchRow extends ThreadRow {
  match_message_id: string;
  match_role: 'user' | 'assistant';
  match_created_at: Date | string;
  match_count: number | string;
  headline: string;
}

/**
 * Threads with at least one message matching `query` (web-search syntax: words, "phrases",
 * `or`, `-word`), in list order, each with its best match highlighted. `websearch_to_tsquery`
 * never fails on user text: operators it does not understand are words or ignored, and a query
 * without any word matches nothing. Every branch counts, summarized messages included; replies
 * still streaming do not (the index leaves them out). The headline is computed for the page's
 * rows only.
 */
export async function searchThreads(
  db: ChatExecutor,
  projectId: string,
  query: string,
  options: ThreadFilter & { limit: number; after?: ThreadCursor },
): Promise<ThreadSearchRow[]> {
  const { after } = options;
  // The query is a literal of the statement (a bound parameter), never a joined CTE: the
  // planner then estimates from the vectors' statistics how many messages match, and picks
  // the GIN index for a rare word or the thread list's order for a common one. Vectors are
  // stored (migration 0940), so checking and ranking a message costs no re-parse of its text.
  const tsquery = sql`websearch_to_tsquery('simple'::regconfig, ${query})`;
  const result = await sql<ThreadSearchRow>`
    with page as (
      select t.* from chat_thread t
      where t.project_id = ${projectId}
        ${options.deleted ? sql`and t.deleted_at is not null` : sql`and t.deleted_at is null and t.archived = ${options.archived}`}
        ${options.pinned === undefined ? sql`` : sql`and t.pinned = ${options.pinned}`}
        ${options.agentId === undefined ? sql`` : sql`and t.agent_id = ${options.agentId}`}
        ${after ? sql`and (t.updated_at, t.id) < (${after.updatedAt}::timestamptz, ${after.id}::uuid)` : sql``}
        and exists (
          select 1 from chat_message_search s where s.thread_id = t.id and s.vector @@ ${tsquery})
      order by t.updated_at desc, t.id desc
      limit ${options.limit}
    )
    select page.*, m.id as match_message_id, m.role as match_role,
      m.created_at as match_created_at, best.matches as match_count,
      ts_headline('simple'::regconfig, translate(m.content, ${HIGHLIGHT_START + HIGHLIGHT_STOP}, ''),
        ${tsquery}, ${HEADLINE_OPTIONS}) as headline
    from page
    cross join lateral (
      select s.message_id, count(*) over () as matches, ts_rank(s.vector, ${tsquery}) as rank
      from chat_message_search s
      where s.thread_id = page.id and s.vector @@ ${tsquery}
      order by rank desc, s.message_id desc
      limit 1
    ) best
    join chat_message m on m.id = best.message_id
    order by page.updated_at desc, page.id desc`.execute(db);
  return result.rows;
}

export async function updateThread(
  db: ChatExecutor,
  threadId: string,
  changes: Updateable<ChatThreadTable>,
): Promise<ThreadRow> {
  return db
    .updateTable('chat_thread')
    .set({ ...changes, version: sql`version + 1`, updated_at: sql<Date>`now()` })
    .where('id', '=', threadId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** What `writeReply` writes: a reply placeholder, the user message before it (if any). */
export interface ReplyWrite {
  projectId: string;
  threadId: string;
  /** The message answered: the thread's leaf (`'leaf'`), else this one (null: none, a root). */
  parent: 'leaf' | string | null;
  user: {
    id: string;
    content: string;
    editedFromId: string | null;
    /** The message's image parts (chat-attachments.ts); none: `[]`. */
    parts?: readonly unknown[];
  } | null;
  assistantId: string;
  runId: string;
  createdBy: string | null;
  /** The request's model and provider (null: the agent's, else the thread's). */
  model: string | null;
  provider: string | null;
  /** The audit row of the change; the reply's model (and agent) are added to its summary. */
  audit: Omit<AuditLogTable, 'at' | 'summary'> & { summary: Record<string, unknown> };
  /**
   * Also read what the reply's run needs (`replyContext` with this limit: the branch up to the
   * reply, the thread's summaries), for a run executed in this process; 0: not.
   */
  contextLimit: number;
  /**
   * The reply's run (`DurableRuns.prepare`): its row is inserted by this statement when the
   * reply is written, and comes back as `run`.
   */
  run?: Pick<PreparedRun, 'insertFrom'>;
}

/** Why `writeReply` wrote nothing; `written` otherwise. */
export type ReplyOutcome =
  | 'written'
  | 'no-thread'
  | 'no-parent'
  | 'streaming'
  | 'agent-deleted'
  | 'no-answer';

/**
 * A new reply in one statement (no transaction of its own, so no BEGIN and COMMIT either):
 * locks the live thread, checks that the message answered is there, that no reply is
 * streaming in the thread and that the thread's agent is not deleted, then inserts the user
 * message (if any) and the reply placeholder — with the model of the request, else of the
 * agent's current version, else of the thread — points the thread's leaf at the reply and
 * writes the audit row. A check that fails writes nothing and is the outcome. Two sends racing
 * on PostgreSQL: the second waits for the thread's lock, then reads the thread as re-read under
 * the lock but the messages as of its start (READ COMMITTED), so it hits the one-streaming-reply
 * index (a unique violation, 409 for the caller) or misses the winner's messages and refuses —
 * the caller asks once more on a refusal (`writeReplyFresh` in chat-service.ts). Answers the new rows, the thread as updated
 * and the children the answered message had (the first new message's siblings).
 */
export async function writeReply(
  db: ChatExecutor,
  write: ReplyWrite,
): Promise<{
  outcome: ReplyOutcome;
  thread: ThreadRow | undefined;
  user: MessageRow | undefined;
  assistant: MessageRow | undefined;
  childIds: string[];
  /** With `contextLimit`: what `replyContext` would answer after the write. */
  context: { branch: MessageRow[]; summaries: SummaryRow[] } | undefined;
  /** With `run`: the run's row as inserted (JSON). */
  run: Record<string, unknown> | undefined;
}> {
  const { threadId, user } = write;
  // The new messages end the branch: the ancestors above them fill the rest of the limit.
  const ancestors = Math.max(0, write.contextLimit - (user ? 2 : 1));
  const hasUser = user !== null;
  const { summary, ...auditRow } = write.audit;
  const { rows } = await sql<
    MessageRow & {
      outcome: ReplyOutcome;
      reply_thread: ThreadRow | null;
      reply_summaries: SummaryRow[] | null;
      reply_run: Record<string, unknown> | null;
      child_ids: string[];
      row_kind: 'new' | 'branch' | null;
    }
  >`
    ${PREPARED}with recursive locked as (
      select * from chat_thread
      where id = ${threadId} and project_id = ${write.projectId} and deleted_at is null
      for update
    ),
    answered as (
      select case when ${write.parent === 'leaf'}::boolean then current_leaf_id
        else ${write.parent === 'leaf' ? null : write.parent}::uuid end as id
      from locked
    ),
    agent as (
      select v.agent_id, v.version, v.model, v.provider from locked
      join chat_agent a on a.id = locked.agent_id and a.project_id = locked.project_id
        and a.deleted_at is null
      join chat_agent_version v on v.agent_id = a.id and v.version = a.current_version
    ),
    verdict as (
      select
        case
          when answered.id is not null and parent.id is null then 'no-parent'
          when exists (
            select 1 from chat_message where thread_id = ${threadId} and status = 'streaming'
          ) then 'streaming'
          when locked.agent_id is not null and agent.agent_id is null then 'agent-deleted'
          when not ${hasUser}::boolean and parent.id is null then 'no-answer'
          else 'written'
        end as outcome,
        parent.id as parent_id, parent.depth as parent_depth,
        agent.agent_id, agent.version as agent_version,
        case when ${write.model}::text is not null then ${write.model}::text
          when agent.agent_id is not null then agent.model else locked.model end as model,
        case when ${write.model}::text is not null then ${write.provider}::text
          else coalesce(${write.provider}::text,
            case when agent.agent_id is not null then agent.provider else locked.provider end)
        end as provider,
        (select coalesce(array_agg(m.id::text order by m.id), '{}') from chat_message m
          where m.thread_id = ${threadId}
            and (m.parent_id = answered.id or (answered.id is null and m.parent_id is null))
        ) as child_ids
      from locked cross join answered
      left join chat_message parent on parent.thread_id = ${threadId} and parent.id = answered.id
      left join agent on true
    ),
    ok as (select * from verdict where outcome = 'written'),
    inserted as (
      insert into chat_message (id, thread_id, parent_id, depth, role, content, parts, status,
        edited_from_id, created_by, model, provider, agent_id, agent_version, run_id)
      select ${user?.id ?? null}::uuid, ${threadId}::uuid, ok.parent_id,
        coalesce(ok.parent_depth + 1, 0), 'user', ${user?.content ?? ''}::text,
        ${JSON.stringify(user?.parts ?? [])}::jsonb, 'done',
        ${user?.editedFromId ?? null}::uuid, ${write.createdBy}::uuid, null, null, null, null, null
      from ok where ${hasUser}::boolean
      union all
      select ${write.assistantId}::uuid, ${threadId}::uuid,
        case when ${hasUser}::boolean then ${user?.id ?? null}::uuid else ok.parent_id end,
        case when ${hasUser}::boolean then coalesce(ok.parent_depth + 1, 0) + 1
          else ok.parent_depth + 1 end,
        'assistant', '', '[]'::jsonb, 'streaming', null, ${write.createdBy}::uuid, ok.model,
        ok.provider, ok.agent_id, ok.agent_version, ${write.runId}::uuid
      from ok
      returning *
    ),
    moved as (
      update chat_thread t
      set current_leaf_id = ${write.assistantId}, version = t.version + 1, updated_at = now()
      from ok where t.id = ${threadId}
      returning t.*
    ),
    audited as (
      insert into audit_log (id, actor_user_id, actor_via, credential_id, action, entity_type,
        entity_id, project_id, request_id, ip, summary)
      select r.id, r.actor_user_id, r.actor_via, r.credential_id, r.action, r.entity_type,
        r.entity_id, r.project_id, r.request_id, r.ip,
        ${JSON.stringify(summary)}::jsonb || jsonb_build_object('model', ok.model)
          || case when ok.agent_id is null then '{}'::jsonb
            else jsonb_build_object('agentId', ok.agent_id, 'agentVersion', ok.agent_version) end
      from ok, jsonb_populate_record(null::audit_log, ${JSON.stringify(auditRow)}::jsonb) r
    ),
    run as (${write.run ? write.run.insertFrom(sql`ok`) : sql`select null::jsonb as id where false`}),
    chain as (
      select m.id, m.parent_id, 1 as n from ok
      join chat_message m on m.thread_id = ${threadId} and m.id = ok.parent_id
      where ${ancestors}::int > 0
      union all
      select m.id, m.parent_id, chain.n + 1 from chain
      join chat_message m on m.thread_id = ${threadId} and m.id = chain.parent_id
      where chain.n < ${ancestors}::int
    ),
    written as (
      select 'new' as row_kind, inserted.* from inserted
      union all
      select 'branch', m.* from chain join chat_message m on m.thread_id = ${threadId} and m.id = chain.id
    )
    select written.*, verdict.outcome, verdict.child_ids,
      (select to_jsonb(moved) from moved) as reply_thread,
      (select to_jsonb(run) from run) as reply_run,
      case when ${write.contextLimit}::int > 0 and verdict.outcome = 'written' then coalesce(
        (select jsonb_agg(s order by s.created_at) from chat_summary s where s.thread_id = ${threadId}),
        '[]'::jsonb) end as reply_summaries
    from verdict left join written on true`.execute(db);
  const first = rows[0];
  if (!first)
    return {
      outcome: 'no-thread',
      thread: undefined,
      user: undefined,
      assistant: undefined,
      childIds: [],
      context: undefined,
      run: undefined,
    };
  const created: MessageRow[] = [];
  const branch: MessageRow[] = [];
  for (const {
    outcome: _outcome,
    child_ids: _children,
    reply_thread: _thread,
    reply_summaries: _summaries,
    reply_run: _run,
    row_kind: kind,
    ...row
  } of rows)
    if (kind === 'new') created.push(row as MessageRow);
    else if (kind === 'branch') branch.push(row as MessageRow);
  const userRow = hasUser ? created.find((row) => row.id === user.id) : undefined;
  const assistant = created.find((row) => row.id === write.assistantId);
  const summaries = first.reply_summaries;
  return {
    outcome: first.outcome,
    thread: first.reply_thread ? dated(first.reply_thread, THREAD_DATES) : undefined,
    user: userRow,
    assistant,
    childIds: first.child_ids,
    context:
      summaries && assistant
        ? {
            branch: [
              ...branch.sort((a, b) => a.depth - b.depth),
              ...(userRow ? [userRow] : []),
              assistant,
            ],
            summaries: summaries.map((summary) => dated(summary, SUMMARY_DATES)),
          }
        : undefined,
    run: first.reply_run ?? undefined,
  };
}

/** Timestamps as a row has them, from their JSON text. */
const dated = <Row extends object>(row: Row, columns: readonly string[]): Row => {
  const copy = { ...row } as Record<string, unknown>;
  for (const column of columns)
    if (typeof copy[column] === 'string') copy[column] = new Date(copy[column] as string);
  return copy as Row;
};
const THREAD_DATES = ['created_at', 'updated_at', 'deleted_at', 'purge_after'] as const;
const SUMMARY_DATES = ['created_at', 'updated_at'] as const;

/**
 * Everything a reply's run reads before its model call, in one statement: the branch up to
 * the reply (at most `limit` messages, the reply last), the live thread (undefined when it is
 * gone) and its summary checkpoints, oldest first.
 */
export async function replyContext(
  db: ChatExecutor,
  projectId: string,
  threadId: string,
  replyId: string,
  limit: number,
): Promise<{ branch: MessageRow[]; thread: ThreadRow | undefined; summaries: SummaryRow[] }> {
  const result = await sql<
    MessageRow & { n: number; reply_thread: ThreadRow | null; reply_summaries: SummaryRow[] | null }
  >`
    with recursive branch as (
      select m.*, 1 as n from chat_message m where m.thread_id = ${threadId} and m.id = ${replyId}
      union all
      select m.*, b.n + 1 from chat_message m
        join branch b on m.thread_id = b.thread_id and m.id = b.parent_id
      where b.n < ${limit}
    ),
    thread as (
      select to_jsonb(t) as reply_thread, coalesce(
        (select jsonb_agg(s order by s.created_at) from chat_summary s where s.thread_id = t.id),
        '[]'::jsonb) as reply_summaries
      from chat_thread t
      where t.id = ${threadId} and t.project_id = ${projectId} and t.deleted_at is null
    )
    select branch.*, thread.reply_thread, thread.reply_summaries
    from branch left join thread on branch.n = 1
    order by depth`.execute(db);
  let thread: ThreadRow | undefined;
  let summaries: SummaryRow[] = [];
  const branch = result.rows.map(({ n, reply_thread, reply_summaries, ...row }) => {
    if (n === 1 && reply_thread) {
      thread = dated(reply_thread, THREAD_DATES);
      summaries = (reply_summaries ?? []).map((summary) => dated(summary, SUMMARY_DATES));
    }
    return row as MessageRow;
  });
  return { branch, thread, summaries };
}

export async function insertMessage(db: ChatExecutor, row: Insertable<ChatMessageTable>) {
  return db.insertInto('chat_message').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findMessage(
  db: ChatExecutor,
  threadId: string,
  messageId: string,
): Promise<MessageRow | undefined> {
  return db
    .selectFrom('chat_message')
    .selectAll()
    .where('thread_id', '=', threadId)
    .where('id', '=', messageId)
    .executeTakeFirst();
}

/**
 * Up to `limit` messages of the branch ending at `fromId` (inclusive), oldest first. The
 * recursion walks parent links and stops after `limit` rows.
 */
export async function branchUpTo(
  db: ChatExecutor,
  threadId: string,
  fromId: string,
  limit: number,
): Promise<MessageRow[]> {
  const result = await sql<MessageRow>`
    with recursive branch as (
      select m.*, 1 as n from chat_message m where m.thread_id = ${threadId} and m.id = ${fromId}
      union all
      select m.*, b.n + 1 from chat_message m
        join branch b on m.thread_id = b.thread_id and m.id = b.parent_id
      where b.n < ${limit}
    )
    select * from branch order by depth`.execute(db);
  return result.rows.map(({ n: _n, ...row }: MessageRow & { n?: number }) => row as MessageRow);
}

/** Children of each given parent (null: the thread's roots), oldest first. */
export async function siblingIds(
  db: ChatExecutor,
  threadId: string,
  parentIds: (string | null)[],
): Promise<Map<string | null, string[]>> {
  const ids = parentIds.filter((id): id is string => id !== null);
  const withRoots = parentIds.includes(null);
  if (ids.length === 0 && !withRoots) return new Map();
  const rows = await db
    .selectFrom('chat_message')
    .select(['id', 'parent_id'])
    .where('thread_id', '=', threadId)
    .where((eb) => {
      const conditions = [];
      if (ids.length > 0) conditions.push(eb('parent_id', 'in', ids));
      if (withRoots) conditions.push(eb('parent_id', 'is', null));
      return eb.or(conditions);
    })
    .orderBy('id')
    .execute();
  const byParent = new Map<string | null, string[]>();
  for (const row of rows) {
    const list = byParent.get(row.parent_id) ?? [];
    list.push(row.id);
    byParent.set(row.parent_id, list);
  }
  return byParent;
}

/**
 * The leaf a branch switch to `messageId` shows: its most recent descendant (ids are UUIDv7,
 * so the newest descendant has no children yet and is a leaf), or the message itself.
 */
export async function newestLeafUnder(
  db: ChatExecutor,
  threadId: string,
  messageId: string,
): Promise<string> {
  const result = await sql<{ id: string }>`
    with recursive below as (
      select id from chat_message where thread_id = ${threadId} and id = ${messageId}
      union all
      select m.id from chat_message m join below b on m.parent_id = b.id
      where m.thread_id = ${threadId}
    )
    select id from below order by id desc limit 1`.execute(db);
  return result.rows[0]?.id ?? messageId;
}

export async function streamingMessage(
  db: ChatExecutor,
  threadId: string,
): Promise<MessageRow | undefined> {
  return db
    .selectFrom('chat_message')
    .selectAll()
    .where('thread_id', '=', threadId)
    .where('status', '=', 'streaming')
    .executeTakeFirst();
}

/**
 * Writes a streaming reply's text so far; false when it is no longer streaming. `alongside`: a
 * data-modifying statement run in the same statement (the text's delta event, stored with it).
 */
export async function writeStreamingText(
  db: ChatExecutor,
  messageId: string,
  content: string,
  reasoning: string | null,
  alongside?: RawBuilder<unknown>,
): Promise<boolean> {
  if (alongside) {
    const result = await sql`
      ${PREPARED}with alongside as (${alongside})
      update chat_message set content = ${content}, reasoning = ${reasoning}, updated_at = now()
      where id = ${messageId} and status = 'streaming'`.execute(db);
    return Number(result.numAffectedRows ?? 0) > 0;
  }
  const result = await db
    .updateTable('chat_message')
    .set({ content, reasoning, updated_at: sql<Date>`now()` })
    .where('id', '=', messageId)
    .where('status', '=', 'streaming')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Copies a branch (oldest first) into another thread with new ids, parents mapped, in one
 * insert; returns the copy of the last message.
 */
export async function copyBranch(
  db: ChatExecutor,
  toThreadId: string,
  branch: readonly MessageRow[],
  newId: () => string,
): Promise<string> {
  const ids = new Map<string, string>();
  for (const message of branch) ids.set(message.id, newId());
  await db
    .insertInto('chat_message')
    .values(
      branch.map((message) => ({
        id: ids.get(message.id)!,
        thread_id: toThreadId,
        parent_id: message.parent_id === null ? null : (ids.get(message.parent_id) ?? null),
        depth: message.depth - branch[0]!.depth,
        role: message.role,
        content: message.content,
        reasoning: message.reasoning,
        parts: JSON.stringify(message.parts ?? []),
        status: message.status,
        error: message.error === null ? null : JSON.stringify(message.error),
        provider: message.provider,
        model: message.model,
        agent_id: message.agent_id,
        agent_version: message.agent_version,
        uncached_input_tokens: message.uncached_input_tokens,
        cache_read_tokens: message.cache_read_tokens,
        cache_write_tokens: message.cache_write_tokens,
        output_tokens: message.output_tokens,
        reasoning_tokens: message.reasoning_tokens,
        cost_nano: message.cost_nano,
        latency_ms: message.latency_ms,
        ttft_ms: message.ttft_ms,
        created_by: message.created_by,
        created_at: message.created_at,
      })),
    )
    .execute();
  return ids.get(branch.at(-1)!.id)!;
}

/** Writes a streaming reply's tool calls and results so far; undefined when it has ended. */
export async function writeStreamingParts(
  db: ChatExecutor,
  messageId: string,
  parts: readonly unknown[],
): Promise<MessageRow | undefined> {
  return db
    .updateTable('chat_message')
    .set({ parts: JSON.stringify(parts), updated_at: sql<Date>`now()` })
    .where('id', '=', messageId)
    .where('status', '=', 'streaming')
    .returningAll()
    .executeTakeFirst();
}

/** Ends a streaming reply (done, error or stopped); undefined when it had already ended. */
export async function settleMessage(
  db: ChatExecutor,
  messageId: string,
  changes: Updateable<ChatMessageTable>,
): Promise<MessageRow | undefined> {
  return db
    .updateTable('chat_message')
    .set({ ...changes, updated_at: sql<Date>`now()` })
    .where('id', '=', messageId)
    .where('status', '=', 'streaming')
    .returningAll()
    .executeTakeFirst();
}

/** Compare-and-set edit of a settled message: undefined when `version` is not current. */
export async function replaceContent(
  db: ChatExecutor,
  messageId: string,
  version: number,
  content: string,
): Promise<MessageRow | undefined> {
  return db
    .updateTable('chat_message')
    .set({ content, version: sql`version + 1`, updated_at: sql<Date>`now()` })
    .where('id', '=', messageId)
    .where('version', '=', version)
    .where('status', '!=', 'streaming')
    .returningAll()
    .executeTakeFirst();
}

export async function insertRevision(
  db: ChatExecutor,
  row: {
    id: string;
    messageId: string;
    version: number;
    content: string;
    replacedBy: string | null;
  },
) {
  await db
    .insertInto('chat_message_revision')
    .values({
      id: row.id,
      message_id: row.messageId,
      version: row.version,
      content: row.content,
      replaced_by: row.replacedBy,
    })
    .execute();
}

export async function listRevisions(db: ChatExecutor, messageId: string) {
  return db
    .selectFrom('chat_message_revision')
    .selectAll()
    .where('message_id', '=', messageId)
    .orderBy('version')
    .execute();
}

export interface ThreadTotalsRow {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costNano: number;
  unpricedCalls: number;
}

/** What a thread cost, summed from the usage rows of its calls (every attempt). */
export async function threadTotals(
  db: ChatExecutor,
  projectId: string,
  threadId: string,
): Promise<ThreadTotalsRow> {
  const result = await sql<ThreadTotalsRow>`
    select count(*)::int8 as "calls",
      coalesce(sum(coalesce(uncached_input_tokens, 0) + coalesce(cache_read_tokens, 0)
        + coalesce(cache_write_tokens, 0)), 0)::int8 as "inputTokens",
      coalesce(sum(output_tokens), 0)::int8 as "outputTokens",
      coalesce(sum(cost_nano), 0)::int8 as "costNano",
      count(*) filter (where cost_nano is null and status <> 'cache-hit')::int8 as "unpricedCalls"
    from llm_calls
    where feature = 'chat' and entity_ids->>'threadId' = ${threadId} and project_id = ${projectId}`.execute(
    db,
  );
  return result.rows[0]!;
}

/**
 * What each agent's replies cost: the usage rows (every attempt) of the messages an agent
 * version wrote, joined by the message id the reply step records. Agents without calls are
 * absent from the map.
 */
export async function agentTotals(
  db: ChatExecutor,
  projectId: string,
  agentIds: readonly string[],
): Promise<Map<string, ThreadTotalsRow>> {
  if (agentIds.length === 0) return new Map();
  const result = await sql<ThreadTotalsRow & { agentId: string }>`
    select m.agent_id as "agentId", count(*)::int8 as "calls",
      coalesce(sum(coalesce(c.uncached_input_tokens, 0) + coalesce(c.cache_read_tokens, 0)
        + coalesce(c.cache_write_tokens, 0)), 0)::int8 as "inputTokens",
      coalesce(sum(c.output_tokens), 0)::int8 as "outputTokens",
      coalesce(sum(c.cost_nano), 0)::int8 as "costNano",
      count(*) filter (where c.cost_nano is null and c.status <> 'cache-hit')::int8 as "unpricedCalls"
    from chat_message m
    join llm_calls c on c.feature = 'chat' and c.entity_ids->>'messageId' = m.id::text
    where m.agent_id in (${sql.join(agentIds.map((id) => sql`${id}::uuid`))})
      and c.project_id = ${projectId}
    group by m.agent_id`.execute(db);
  return new Map(result.rows.map(({ agentId, ...totals }) => [agentId, totals]));
}

export const NO_TOTALS: ThreadTotalsRow = {
  calls: 0,
  inputTokens: 0,
  outputTokens: 0,
  costNano: 0,
  unpricedCalls: 0,
};

export type SummaryRow = Selectable<ChatSummaryTable>;

export async function listSummaries(db: ChatExecutor, threadId: string): Promise<SummaryRow[]> {
  return db
    .selectFrom('chat_summary')
    .selectAll()
    .where('thread_id', '=', threadId)
    .orderBy('created_at')
    .execute();
}

/** Claims a window; undefined when another request already has (the unique key). */
export async function claimSummary(
  db: ChatExecutor,
  row: Insertable<ChatSummaryTable>,
): Promise<SummaryRow | undefined> {
  return db
    .insertInto('chat_summary')
    .values(row)
    .onConflict((conflict) => conflict.columns(['thread_id', 'through_message_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function findSummary(db: ChatExecutor, summaryId: string) {
  return db.selectFrom('chat_summary').selectAll().where('id', '=', summaryId).executeTakeFirst();
}

export async function settleSummary(
  db: ChatExecutor,
  summaryId: string,
  changes: Updateable<ChatSummaryTable>,
): Promise<SummaryRow | undefined> {
  return db
    .updateTable('chat_summary')
    .set({ ...changes, updated_at: sql<Date>`now()` })
    .where('id', '=', summaryId)
    .where('status', '=', 'pending')
    .returningAll()
    .executeTakeFirst();
}

/** Every message of a thread, every branch, parents first (for export). */
export async function allMessages(db: ChatExecutor, threadId: string): Promise<MessageRow[]> {
  return db
    .selectFrom('chat_message')
    .selectAll()
    .where('thread_id', '=', threadId)
    .orderBy('depth')
    .orderBy('id')
    .execute();
}

/** The live thread imported from `source` with that id, locked for the import. */
export async function findThreadBySource(
  db: ChatExecutor,
  projectId: string,
  source: 'chatgpt' | 'claude',
  sourceId: string,
): Promise<ThreadRow | undefined> {
  return db
    .selectFrom('chat_thread')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('source', '=', source)
    .where('source_id', '=', sourceId)
    .where('deleted_at', 'is', null)
    .forUpdate()
    .executeTakeFirst();
}

/** The imported messages of a thread: source id → our id and depth. */
export async function importedMessages(
  db: ChatExecutor,
  threadId: string,
): Promise<Map<string, { id: string; depth: number }>> {
  const rows = await db
    .selectFrom('chat_message')
    .select(['id', 'source_id', 'depth'])
    .where('thread_id', '=', threadId)
    .where('source_id', 'is not', null)
    .execute();
  return new Map(rows.map((row) => [row.source_id!, { id: row.id, depth: row.depth }]));
}

/** Inserts many messages, a bounded batch per statement (parameters per statement are capped). */
export async function insertMessages(
  db: ChatExecutor,
  rows: Insertable<ChatMessageTable>[],
): Promise<void> {
  for (let start = 0; start < rows.length; start += 1000)
    await db
      .insertInto('chat_message')
      .values(rows.slice(start, start + 1000))
      .execute();
}

export async function findChatSettings(db: ChatExecutor, projectId: string) {
  return db
    .selectFrom('chat_project_settings')
    .selectAll()
    .where('project_id', '=', projectId)
    .executeTakeFirst();
}

export async function saveChatSettings(
  db: ChatExecutor,
  row: {
    project_id: string;
    summary_model: string | null;
    summary_provider: string | null;
    updated_by: string | null;
  },
) {
  return db
    .insertInto('chat_project_settings')
    .values(row)
    .onConflict((conflict) =>
      conflict.column('project_id').doUpdateSet({
        summary_model: row.summary_model,
        summary_provider: row.summary_provider,
        updated_by: row.updated_by,
        updated_at: sql<Date>`now()`,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Deletes, for good, up to `limit` deleted threads whose restore window ended (their messages,
 * revisions and summaries go by their foreign keys); answers them.
 */
export async function purgeExpiredThreads(
  db: ChatExecutor,
  now: Date,
  limit: number,
): Promise<{ id: string; project_id: string }[]> {
  return db
    .deleteFrom('chat_thread')
    .where(
      'id',
      'in',
      db
        .selectFrom('chat_thread')
        .select('id')
        .where('purge_after', '<=', now)
        .orderBy('purge_after')
        .limit(limit),
    )
    .returning(['id', 'project_id'])
    .execute();
}

/**
 * The image hashes the messages of a project's threads carry (deleted threads included, until
 * purged): the image blob sweep keeps these linked.
 */
export async function imageHashesOfProject(
  db: ChatExecutor,
  projectId: string,
): Promise<Set<string>> {
  const { rows } = await sql<{ sha256: string }>`
    select distinct part->>'sha256' as sha256
    from chat_message m
    join chat_thread t on t.id = m.thread_id
    cross join lateral jsonb_array_elements(m.parts) part
    where t.project_id = ${projectId} and m.role = 'user' and part->>'type' = 'image'`.execute(db);
  return new Set(rows.map((row) => row.sha256));
}
