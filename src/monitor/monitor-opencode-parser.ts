import { DatabaseSync } from 'node:sqlite';
import {
  clip,
  count,
  dateFrom,
  emptyParsed,
  nanoFromUsd,
  type ParsedFile,
  record,
  type TokenBuckets,
  text,
} from './monitor-records.ts';

/**
 * OpenCode sessions: the SQLite database `opencode.db` (OpenCode ≥ 1.2) and the legacy JSON
 * tree `storage/{session,message,part}`. Both hold the same objects (the database keeps the
 * JSON of a message or part in its `data` column, minus the ids), so one set of functions
 * reads both.
 *
 * Counting rule: a message's `tokens` hold only its last step (OpenCode overwrites them per
 * step while it adds up `cost`), so usage comes from `step-finish` parts, one event each; a
 * message's own tokens count only when it has no step-finish part (older files).
 */

export function openCodeSessionKey(sessionId: string): string {
  return `oc:${sessionId}`;
}

/** The model and session of a message, for pricing its step-finish parts. */
export interface MessageInfo {
  sessionId: string;
  model: string | null;
  provider: string | null;
  /** When the message completed (else was created): the time of its steps, which have none. */
  at: Date | null;
}

export type MessageLookup = (messageId: string) => MessageInfo | undefined;

/**
 * OpenCode's token object → disjoint buckets. Current OpenCode reports reasoning apart from
 * output (`total = input + output + reasoning + cache`); where `total` shows the reasoning is
 * inside output, it is taken out of output so it is not counted twice.
 */
export function openCodeBuckets(tokens: unknown): TokenBuckets | null {
  const t = record(tokens);
  if (!t) return null;
  const cache = record(t.cache);
  const input = count(t.input);
  let output = count(t.output);
  const reasoning = count(t.reasoning);
  const cacheRead = count(cache?.read);
  const cacheWrite = count(cache?.write);
  if (
    typeof t.total === 'number' &&
    reasoning > 0 &&
    t.total === input + output + cacheRead + cacheWrite
  ) {
    output = Math.max(0, output - reasoning);
  }
  return { input, output, reasoning, cacheRead, cacheWrite, cacheWrite1h: 0 };
}

function sum(buckets: TokenBuckets): number {
  return (
    buckets.input + buckets.output + buckets.reasoning + buckets.cacheRead + buckets.cacheWrite
  );
}

/** Adds one session object (JSON file, or a database row shaped like one). */
export function addSession(parsed: ParsedFile, info: Record<string, unknown>, sourceRef: string) {
  const id = text(info.id);
  if (!id) {
    parsed.badLines.push({ line: 0, reason: `session without an id (${sourceRef})` });
    return;
  }
  parsed.records++;
  const time = record(info.time);
  const parent = text(info.parentID);
  parsed.sessions.push({
    source: 'opencode',
    sessionKey: openCodeSessionKey(id),
    sessionId: id,
    agentId: null,
    agentKind: parent ? 'subagent' : 'main',
    agentName: null,
    parentSessionId: parent,
    title: text(info.title),
    cwd: text(info.directory),
    gitBranch: null,
    records: 0,
    startedAt: dateFrom(time?.created),
    endedAt: dateFrom(time?.updated),
    raw: info,
    sourceRef,
  });
}

export function messageInfoOf(message: Record<string, unknown>): MessageInfo | undefined {
  const sessionId = text(message.sessionID);
  if (!sessionId) return undefined;
  const nested = record(message.model);
  const time = record(message.time);
  return {
    sessionId,
    model: text(message.modelID) ?? text(nested?.modelID),
    provider: text(message.providerID) ?? text(nested?.providerID),
    at: dateFrom(time?.completed) ?? dateFrom(time?.created),
  };
}

export function addMessage(
  parsed: ParsedFile,
  message: Record<string, unknown>,
  sourceRef: string,
) {
  const id = text(message.id);
  const info = messageInfoOf(message);
  if (!id || !info) {
    parsed.badLines.push({ line: 0, reason: `message without id or sessionID (${sourceRef})` });
    return;
  }
  parsed.records++;
  const sessionKey = openCodeSessionKey(info.sessionId);
  const time = record(message.time);
  const role = text(message.role);
  parsed.messages.push({
    sessionKey,
    messageId: id,
    role,
    model: info.model,
    provider: info.provider,
    createdAt: dateFrom(time?.created),
    raw: message,
    sourceRef,
  });
  const buckets = role === 'assistant' ? openCodeBuckets(message.tokens) : null;
  const reported = nanoFromUsd(message.cost);
  if (buckets && (sum(buckets) > 0 || (reported ?? 0) > 0)) {
    parsed.usage.push({
      source: 'opencode',
      eventKey: `oc:msg:${id}`,
      fallbackFor: id,
      sessionKey,
      messageId: id,
      ts: dateFrom(time?.completed) ?? dateFrom(time?.created),
      provider: info.provider,
      model: info.model,
      ...buckets,
      reportedCostNano: reported,
      raw: message.tokens,
      sourceRef,
    });
  }
}

export function addPart(
  parsed: ParsedFile,
  part: Record<string, unknown>,
  sourceRef: string,
  lookup: MessageLookup,
  /** The database row's `time_created`, when the part comes from opencode.db. */
  rowTime: Date | null = null,
) {
  const id = text(part.id);
  const messageId = text(part.messageID);
  const sessionId = text(part.sessionID) ?? (messageId ? lookup(messageId)?.sessionId : undefined);
  if (!id || !sessionId) {
    parsed.badLines.push({ line: 0, reason: `part without id or sessionID (${sourceRef})` });
    return;
  }
  parsed.records++;
  const sessionKey = openCodeSessionKey(sessionId);
  const type = text(part.type) ?? 'other';
  const state = record(part.state);
  const time = record(state?.time) ?? record(part.time);
  const row = {
    sessionKey,
    messageId,
    partId: id,
    type,
    text: type === 'text' || type === 'reasoning' ? text(part.text) : null,
    toolName: type === 'tool' ? text(part.tool) : null,
    callId: type === 'tool' ? text(part.callID) : null,
    toolStatus: type === 'tool' ? text(state?.status) : null,
    toolInput: type === 'tool' ? (state?.input ?? null) : null,
    toolOutput: type === 'tool' ? clip(text(state?.output)) : null,
    toolError: type === 'tool' ? clip(text(state?.error)) : null,
    childRef: null as string | null,
    raw: part,
    sourceRef,
  };
  if (type === 'tool' && row.toolName === 'task') {
    // The task tool starts a child session: state.metadata.sessionId names it.
    const child = text(record(state?.metadata)?.sessionId);
    if (child) {
      row.childRef = child;
      const input = record(state?.input);
      parsed.links.push({
        source: 'opencode',
        sessionId,
        childRef: child,
        callId: row.callId,
        agentType: text(input?.subagent_type),
        description: text(input?.description),
      });
    }
  }
  parsed.parts.push(row);
  if (type === 'step-finish') {
    const buckets = openCodeBuckets(part.tokens);
    const info = messageId ? lookup(messageId) : undefined;
    if (!buckets) {
      parsed.badLines.push({ line: 0, reason: `step-finish without tokens (${sourceRef})` });
      return;
    }
    parsed.usage.push({
      source: 'opencode',
      eventKey: `oc:${id}`,
      fallbackFor: null,
      sessionKey,
      messageId,
      // step-finish parts carry no time of their own: the row's, else the message's.
      ts: dateFrom(time?.end) ?? rowTime ?? info?.at ?? null,
      provider: info?.provider ?? null,
      model: info?.model ?? null,
      ...buckets,
      reportedCostNano: nanoFromUsd(part.cost),
      raw: part.tokens,
      sourceRef,
    });
  }
}

/** A legacy JSON file's role, from where it sits in `storage/`. */
export function openCodeJsonKind(relativePath: string): 'session' | 'message' | 'part' | null {
  // The third segment from the end, found without splitting the path (a bulk import asks for
  // 100,000 paths: the arrays of segments were 30 MB of garbage).
  if (!relativePath.endsWith('.json')) return null;
  const end = lastSeparator(relativePath, relativePath.length - 1);
  const middle = end > 0 ? lastSeparator(relativePath, end - 1) : -1;
  if (middle < 0) return null;
  const folder = relativePath.slice(lastSeparator(relativePath, middle - 1) + 1, middle);
  return folder === 'session' || folder === 'message' || folder === 'part' ? folder : null;
}

/** The last `/` or `\\` at or before `from` (-1: none). */
function lastSeparator(value: string, from: number): number {
  return Math.max(value.lastIndexOf('/', from), value.lastIndexOf('\\', from));
}

/** Parses one legacy JSON file (session, message or part). */
export function parseOpenCodeJson(
  content: string,
  kind: 'session' | 'message' | 'part',
  lookup: MessageLookup,
): ParsedFile {
  const parsed = emptyParsed();
  parsed.byteOffset = Buffer.byteLength(content);
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    // OpenCode writes these files in place: a reader may see one half written.
    parsed.badLines.push({ line: 0, reason: 'invalid JSON (file may be mid-write)' });
    return parsed;
  }
  const object = record(value);
  if (!object) {
    parsed.badLines.push({ line: 0, reason: 'not a JSON object' });
    return parsed;
  }
  if (kind === 'session') addSession(parsed, object, 'file');
  else if (kind === 'message') addMessage(parsed, object, 'file');
  else addPart(parsed, object, 'file', lookup);
  return parsed;
}

/** Thrown for a database that cannot be read now (locked, corrupt, not OpenCode's). */
export class OpenCodeDbError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OpenCodeDbError';
  }
}

function jsonColumn(value: unknown): Record<string, unknown> | null {
  if (typeof value !== 'string') return null;
  try {
    return record(JSON.parse(value));
  } catch {
    return null;
  }
}

/**
 * The rows of an OpenCode `message` or `part` table in id order, each with its `data` column
 * parsed; a row whose data is not a JSON object is a bad line of the import, never fatal.
 */
function* jsonDataRows(
  db: DatabaseSync,
  parsed: ParsedFile,
  table: 'message' | 'part',
  columns: string,
): Generator<{ row: Record<string, unknown>; data: Record<string, unknown>; sourceRef: string }> {
  const rows = db.prepare(`select ${columns}, data from ${table} order by id`).iterate();
  for (const row of rows as Iterable<Record<string, unknown>>) {
    const sourceRef = `${table}:${String(row.id)}`;
    const data = jsonColumn(row.data);
    if (data) yield { row, data, sourceRef };
    else
      parsed.badLines.push({
        line: 0,
        reason: `${table} data is not a JSON object (${sourceRef})`,
      });
  }
}

/**
 * Reads `opencode.db` read-only. Its `message.data` and `part.data` are the JSON objects of
 * the legacy files minus their ids, which the row columns give back.
 */
export function parseOpenCodeDb(filePath: string): ParsedFile {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(filePath, { readOnly: true, timeout: 2_000 });
  } catch (error) {
    throw new OpenCodeDbError('the OpenCode database could not be opened', { cause: error });
  }
  try {
    const tables = new Set(
      (
        db.prepare(`select name from sqlite_master where type = 'table'`).all() as {
          name: string;
        }[]
      ).map((row) => row.name),
    );
    for (const table of ['session', 'message', 'part']) {
      if (!tables.has(table))
        throw new OpenCodeDbError(`not an OpenCode database (no ${table} table)`);
    }
    const parsed = emptyParsed();
    for (const row of db.prepare('select * from session order by id').iterate() as Iterable<
      Record<string, unknown>
    >) {
      addSession(
        parsed,
        {
          id: row.id,
          parentID: row.parent_id ?? undefined,
          title: row.title,
          directory: row.directory,
          version: row.version,
          projectID: row.project_id,
          time: { created: row.time_created, updated: row.time_updated },
        },
        `session:${String(row.id)}`,
      );
    }
    const messages = new Map<string, MessageInfo>();
    for (const { row, data, sourceRef } of jsonDataRows(db, parsed, 'message', 'id, session_id')) {
      const message = { ...data, id: row.id, sessionID: row.session_id };
      addMessage(parsed, message, sourceRef);
      const info = messageInfoOf(message);
      if (info && typeof row.id === 'string') messages.set(row.id, info);
    }
    for (const { row, data, sourceRef } of jsonDataRows(
      db,
      parsed,
      'part',
      'id, message_id, session_id, time_created',
    )) {
      addPart(
        parsed,
        { ...data, id: row.id, messageID: row.message_id, sessionID: row.session_id },
        sourceRef,
        (id) => messages.get(id),
        typeof row.time_created === 'number' && row.time_created > 0
          ? dateFrom(row.time_created)
          : null,
      );
    }
    return parsed;
  } catch (error) {
    if (error instanceof OpenCodeDbError) throw error;
    const message = String((error as { message?: unknown }).message ?? '');
    throw new OpenCodeDbError(
      /locked|busy/i.test(message)
        ? 'the OpenCode database is locked; try again later'
        : 'the OpenCode database could not be read (corrupt or not SQLite)',
      { cause: error },
    );
  } finally {
    db.close();
  }
}
