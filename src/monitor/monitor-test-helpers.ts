import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll } from 'vitest';
import { type DuckDb, openDuckDb } from '../platform/duckdb/duckdb.ts';
import { createMonitorStore, type MonitorStore } from './monitor-store.ts';
import { ensureMonitorTables } from './monitor-tables.ts';

/**
 * Generated coding-agent logs for the monitor's tests, shaped like real ones, with totals
 * counted by hand (see the comments beside each line).
 */

export const SONNET = 'claude-sonnet-4-5-20250929';
export const CLAUDE_SESSION = '7d0c1f4e-2b1a-4c3d-9e8f-000000000001';

/** The Explore sub-agent's own row in the session report of writeClaudeProjects' logs. */
export const CLAUDE_EXPLORE_ROW = {
  source: 'claude-code',
  sessionId: CLAUDE_SESSION,
  agentId: 'aac57f5',
  agentType: 'Explore',
  parentSessionId: CLAUDE_SESSION,
  records: 3,
  tokens: { input: 3, output: 40, reasoning: 0, cacheRead: 0, cacheWrite: 0 },
  costUsd: 0.000609,
  costBasis: 'computed',
};

const jsonl = (records: unknown[]) => `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;

/**
 * A one-call Claude Code transcript (one JSONL line, Sonnet 4.5, `input` and `output` tokens),
 * for tests that write transcripts while a watch runs. Its ids derive from `sessionId`.
 */
export function claudeCallTranscript(
  sessionId: string,
  tokens: { input?: number; output: number },
): string {
  return jsonl([
    {
      type: 'assistant',
      sessionId,
      uuid: `u-${sessionId}`,
      timestamp: '2026-01-11T09:00:00.000Z',
      requestId: `req-${sessionId}`,
      message: {
        id: `msg-${sessionId}`,
        role: 'assistant',
        model: SONNET,
        content: [{ type: 'text', text: 'done' }],
        usage: { input_tokens: tokens.input ?? 1, output_tokens: tokens.output },
      },
    },
  ]);
}

function assistant(options: {
  uuid: string;
  messageId: string;
  requestId: string | undefined;
  at: string;
  model?: string;
  content: unknown[];
  usage: Record<string, unknown>;
  extra?: Record<string, unknown>;
}) {
  return {
    type: 'assistant',
    sessionId: CLAUDE_SESSION,
    uuid: options.uuid,
    timestamp: options.at,
    ...(options.requestId === undefined ? {} : { requestId: options.requestId }),
    message: {
      id: options.messageId,
      role: 'assistant',
      model: options.model ?? SONNET,
      content: options.content,
      usage: options.usage,
    },
    ...options.extra,
  };
}

/**
 * A Claude Code `projects` folder: one session with a Task sub-agent (`aac57f5`, type
 * `Explore`) and a compaction agent. Main transcript, API messages (last line of each wins):
 * - msg_A (req_1): input 10, output 1 → 50 → 299 over three lines, cache read 1000,
 *   5-minute cache write 100. Sonnet 4.5: 10×3 + 299×15 + 1000×0.3 + 100×3.75 = 5190 µ$.
 * - msg_B (req_2, 23:30 UTC): input 5, output 20, cache read 500, 1-hour cache write 200
 *   (2× input): 5×3 + 20×15 + 500×0.3 + 200×6 = 1665 µ$.
 * - msg_C: a model with no price: input 7, output 3, cost null.
 * Main: input 22, output 322 (first-wins: 24), cache read 1500, cache write 300; 6855 µ$ + 1
 * unpriced. Sub-agent: input 3, output 40 (first-wins 4): 609 µ$. Compaction: input 1,
 * output 2: 33 µ$. Bad lines in the main transcript: 9 (invalid JSON), 10 (unknown type),
 * 13 (truncated last line).
 */
export function writeClaudeProjects(dir: string): { projects: string; mainFile: string } {
  const projects = path.join(dir, 'projects');
  const folder = path.join(projects, '-home-dev-app');
  const subagents = path.join(folder, CLAUDE_SESSION, 'subagents');
  mkdirSync(subagents, { recursive: true });
  const mainFile = path.join(folder, `${CLAUDE_SESSION}.jsonl`);
  const lines = [
    // 1: no sessionId (file-history snapshot)
    JSON.stringify({ type: 'file-history-snapshot', messageId: 'u1', snapshot: {} }),
    // 2
    JSON.stringify({
      type: 'user',
      sessionId: CLAUDE_SESSION,
      uuid: 'u1',
      timestamp: '2026-01-10T10:00:00.000Z',
      cwd: '/home/dev/app',
      gitBranch: 'main',
      message: { role: 'user', content: 'Find the bug' },
    }),
    // 3, 4, 5: one API message, streamed, output growing
    JSON.stringify(
      assistant({
        uuid: 'a1',
        messageId: 'msg_A',
        requestId: 'req_1',
        at: '2026-01-10T10:00:01.000Z',
        content: [{ type: 'text', text: 'Looking' }],
        usage: {
          input_tokens: 10,
          output_tokens: 1,
          cache_read_input_tokens: 1000,
          cache_creation_input_tokens: 100,
          cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 },
        },
      }),
    ),
    JSON.stringify(
      assistant({
        uuid: 'a2',
        messageId: 'msg_A',
        requestId: 'req_1',
        at: '2026-01-10T10:00:02.000Z',
        content: [
          {
            type: 'tool_use',
            id: 'toolu_1',
            name: 'Task',
            input: { subagent_type: 'Explore', description: 'Search the code', prompt: 'find' },
          },
        ],
        usage: {
          input_tokens: 10,
          output_tokens: 50,
          cache_read_input_tokens: 1000,
          cache_creation_input_tokens: 100,
          cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 },
        },
      }),
    ),
    JSON.stringify(
      assistant({
        uuid: 'a3',
        messageId: 'msg_A',
        requestId: 'req_1',
        at: '2026-01-10T10:00:03.000Z',
        content: [{ type: 'text', text: 'Delegated' }],
        usage: {
          input_tokens: 10,
          output_tokens: 299,
          cache_read_input_tokens: 1000,
          cache_creation_input_tokens: 100,
          cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 },
        },
      }),
    ),
    // 6: the Task result names the agent
    JSON.stringify({
      type: 'user',
      sessionId: CLAUDE_SESSION,
      uuid: 'u2',
      timestamp: '2026-01-10T10:05:00.000Z',
      message: {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'found it' }],
      },
      toolUseResult: { agentId: 'aac57f5', status: 'completed' },
    }),
    // 7: 1-hour cache write
    JSON.stringify(
      assistant({
        uuid: 'a4',
        messageId: 'msg_B',
        requestId: 'req_2',
        at: '2026-01-10T23:30:00.000Z',
        content: [{ type: 'text', text: 'Done' }],
        usage: {
          input_tokens: 5,
          output_tokens: 20,
          cache_read_input_tokens: 500,
          cache_creation_input_tokens: 200,
          cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 200 },
        },
      }),
    ),
    // 8: no sessionId (queue operation)
    JSON.stringify({
      type: 'queue-operation',
      operation: 'enqueue',
      timestamp: '2026-01-10T23:31:00Z',
    }),
    // 9: invalid JSON
    '{"type":"assistant", this is not json',
    // 10: unknown record type
    JSON.stringify({ type: 'hologram', sessionId: CLAUDE_SESSION }),
    // 11: a model with no known price
    JSON.stringify(
      assistant({
        uuid: 'a5',
        messageId: 'msg_C',
        requestId: undefined,
        at: '2026-01-10T23:40:00.000Z',
        model: 'my-private-model',
        content: [{ type: 'text', text: '?' }],
        usage: { input_tokens: 7, output_tokens: 3 },
      }),
    ),
    // 12: a synthetic message (no API call): not a usage event
    JSON.stringify(
      assistant({
        uuid: 'a6',
        messageId: 'msg_syn',
        requestId: undefined,
        at: '2026-01-10T23:41:00.000Z',
        model: '<synthetic>',
        content: [{ type: 'text', text: 'No response requested.' }],
        usage: { input_tokens: 0, output_tokens: 0 },
      }),
    ),
  ];
  // 13: the writer stopped mid-line
  writeFileSync(mainFile, `${lines.join('\n')}\n{"type":"assistant","mess`);
  writeFileSync(
    path.join(subagents, 'agent-aac57f5.jsonl'),
    jsonl([
      {
        type: 'user',
        sessionId: CLAUDE_SESSION,
        agentId: 'aac57f5',
        isSidechain: true,
        uuid: 's1',
        timestamp: '2026-01-10T10:00:05.000Z',
        message: { role: 'user', content: 'find' },
      },
      assistant({
        uuid: 's2',
        messageId: 'msg_S',
        requestId: 'req_s',
        at: '2026-01-10T10:00:06.000Z',
        content: [{ type: 'text', text: 'a' }],
        usage: { input_tokens: 3, output_tokens: 4 },
        extra: { agentId: 'aac57f5', isSidechain: true },
      }),
      assistant({
        uuid: 's3',
        messageId: 'msg_S',
        requestId: 'req_s',
        at: '2026-01-10T10:00:07.000Z',
        content: [{ type: 'text', text: 'b' }],
        usage: { input_tokens: 3, output_tokens: 40 },
        extra: { agentId: 'aac57f5', isSidechain: true },
      }),
    ]),
  );
  writeFileSync(
    path.join(subagents, 'agent-acompact-9f1e2d.jsonl'),
    jsonl([
      assistant({
        uuid: 'c1',
        messageId: 'msg_K',
        requestId: 'req_k',
        at: '2026-01-10T12:00:00.000Z',
        content: [{ type: 'text', text: 'summary' }],
        usage: { input_tokens: 1, output_tokens: 2 },
      }),
    ]),
  );
  return { projects, mainFile };
}

/** The same OpenCode data, as rows: sessions, messages and parts (ids included). */
export const OPENCODE = {
  sessions: [
    {
      id: 'ses_root',
      title: 'Root',
      directory: '/home/dev/app',
      time: { created: 1768039200000, updated: 1768039900000 },
    },
    {
      id: 'ses_child',
      parentID: 'ses_root',
      title: 'Look around (@general subagent)',
      directory: '/home/dev/app',
      time: { created: 1768039300000, updated: 1768039400000 },
    },
  ],
  messages: [
    {
      id: 'msg_1',
      sessionID: 'ses_root',
      role: 'user',
      time: { created: 1768039200000 },
      agent: 'build',
      model: { providerID: 'anthropic', modelID: 'claude-sonnet-4-5' },
    },
    // tokens hold only the last step (prt_2): never counted while step-finish parts exist.
    {
      id: 'msg_2',
      sessionID: 'ses_root',
      role: 'assistant',
      time: { created: 1768039201000, completed: 1768039260000 },
      modelID: 'claude-sonnet-4-5',
      providerID: 'anthropic',
      agent: 'build',
      mode: 'build',
      cost: 0,
      tokens: { input: 50, output: 60, reasoning: 0, cache: { read: 2000, write: 300 } },
    },
    {
      id: 'msg_3',
      sessionID: 'ses_child',
      role: 'assistant',
      time: { created: 1768039301000 },
      modelID: 'gpt-4o-mini',
      providerID: 'openai',
      agent: 'general',
      cost: 0.0123,
      tokens: { input: 10, output: 5, reasoning: 0, cache: { read: 0, write: 0 } },
    },
    // no step-finish parts: its own tokens count; the model has no price.
    {
      id: 'msg_4',
      sessionID: 'ses_child',
      role: 'assistant',
      time: { created: 1768039350000 },
      modelID: 'mystery-1',
      providerID: 'anthropic',
      agent: 'general',
      cost: 0,
      tokens: { input: 7, output: 8, reasoning: 0, cache: { read: 0, write: 0 } },
    },
  ],
  parts: [
    // Sonnet 4.5: 100×3 + (40 + 10 reasoning)×15 + 1000×0.3 = 1350 µ$
    {
      id: 'prt_1',
      sessionID: 'ses_root',
      messageID: 'msg_2',
      type: 'step-finish',
      reason: 'tool-calls',
      cost: 0,
      tokens: {
        total: 1150,
        input: 100,
        output: 40,
        reasoning: 10,
        cache: { read: 1000, write: 0 },
      },
    },
    {
      id: 'prt_3',
      sessionID: 'ses_root',
      messageID: 'msg_2',
      type: 'tool',
      tool: 'task',
      callID: 'call_1',
      state: {
        status: 'completed',
        input: { description: 'Look around', prompt: 'look', subagent_type: 'general' },
        output: 'task_id: ses_child',
        metadata: { sessionId: 'ses_child' },
        time: { start: 1768039210000, end: 1768039400000 },
      },
    },
    // 50×3 + 60×15 + 2000×0.3 + 300×3.75 = 2775 µ$
    {
      id: 'prt_2',
      sessionID: 'ses_root',
      messageID: 'msg_2',
      type: 'step-finish',
      reason: 'stop',
      cost: 0,
      tokens: { input: 50, output: 60, reasoning: 0, cache: { read: 2000, write: 300 } },
    },
    {
      id: 'prt_5',
      sessionID: 'ses_root',
      messageID: 'msg_2',
      type: 'tool',
      tool: 'bash',
      callID: 'call_2',
      state: {
        status: 'error',
        input: { command: 'false' },
        error: 'exit 1',
        time: { start: 1768039220000, end: 1768039221000 },
      },
    },
    // reported cost 0.0123 USD
    {
      id: 'prt_4',
      sessionID: 'ses_child',
      messageID: 'msg_3',
      type: 'step-finish',
      reason: 'stop',
      cost: 0.0123,
      tokens: { input: 10, output: 5, reasoning: 0, cache: { read: 0, write: 0 } },
    },
  ],
};

/** Root: input 150, output 100, reasoning 10, cache read 3000, write 300, 4125 µ$. */
export const OPENCODE_ROOT = {
  input: 150,
  output: 100,
  reasoning: 10,
  cacheRead: 3000,
  cacheWrite: 300,
};
/** Child: input 17, output 13; 0.0123 USD reported + one unpriced event. */
export const OPENCODE_CHILD = { input: 17, output: 13, reasoning: 0, cacheRead: 0, cacheWrite: 0 };

type OpenCodeSession = (typeof OPENCODE.sessions)[number] & { parentID?: string };
interface OpenCodeObjects {
  sessions: readonly OpenCodeSession[];
  messages: readonly ({ id: string; sessionID: string; time: { created: number } } & object)[];
  parts: readonly ({ id: string; sessionID: string; messageID: string } & object)[];
}

/** Rows into `opencode.db`'s tables, as OpenCode writes them (one object's JSON in `data`). */
export function insertOpenCodeRows(db: DatabaseSync, objects: OpenCodeObjects): void {
  for (const s of objects.sessions) {
    db.prepare('insert into session values (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      s.id,
      'proj',
      s.parentID ?? null,
      s.id,
      s.directory,
      s.title,
      '1.2.0',
      s.time.created,
      s.time.updated,
    );
  }
  for (const { id, sessionID, ...data } of objects.messages) {
    db.prepare('insert into message values (?, ?, ?, ?, ?)').run(
      id,
      sessionID,
      data.time.created,
      data.time.created,
      JSON.stringify(data),
    );
  }
  for (const { id, sessionID, messageID, ...data } of objects.parts) {
    db.prepare('insert into part values (?, ?, ?, ?, ?, ?)').run(
      id,
      messageID,
      sessionID,
      0,
      0,
      JSON.stringify(data),
    );
  }
}

/** `opencode.db` as OpenCode ≥ 1.2 writes it (the tables and columns the monitor reads). */
export function writeOpenCodeDb(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'opencode.db');
  const db = new DatabaseSync(file);
  db.exec(`
    create table session (id text primary key, project_id text, parent_id text, slug text, directory text, title text, version text, time_created integer, time_updated integer);
    create table message (id text primary key, session_id text, time_created integer, time_updated integer, data text);
    create table part (id text primary key, message_id text, session_id text, time_created integer, time_updated integer, data text);
  `);
  insertOpenCodeRows(db, OPENCODE);
  db.close();
  return file;
}

/**
 * One more OpenCode session of one model call — its session, assistant message and
 * step-finish part — as OpenCode adds them while it works: `tokens.input` input and
 * `tokens.output` output tokens, nothing else.
 */
export function openCodeStep(
  name: string,
  tokens: { input: number; output: number },
): OpenCodeObjects {
  const at = 1768040000000;
  const usage = { ...tokens, reasoning: 0, cache: { read: 0, write: 0 } };
  return {
    sessions: [
      {
        id: `ses_${name}`,
        title: name,
        directory: '/home/dev/app',
        time: { created: at, updated: at + 1000 },
      },
    ],
    messages: [
      {
        id: `msg_${name}`,
        sessionID: `ses_${name}`,
        role: 'assistant',
        time: { created: at, completed: at + 1000 },
        modelID: 'claude-sonnet-4-5',
        providerID: 'anthropic',
        cost: 0,
        tokens: usage,
      } as OpenCodeObjects['messages'][number],
    ],
    parts: [
      {
        id: `prt_${name}`,
        sessionID: `ses_${name}`,
        messageID: `msg_${name}`,
        type: 'step-finish',
        cost: 0,
        tokens: usage,
      } as OpenCodeObjects['parts'][number],
    ],
  };
}

/** The legacy `storage/` tree (OpenCode < 1.2) holding the same objects (or `objects`). */
export function writeOpenCodeStorage(dir: string, objects: OpenCodeObjects = OPENCODE): string {
  const storage = path.join(dir, 'storage');
  const put = (relative: string, value: unknown) => {
    const file = path.join(storage, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(value, null, 2));
  };
  for (const s of objects.sessions)
    put(`session/proj/${s.id}.json`, { ...s, projectID: 'proj', version: '1.1.0' });
  for (const m of objects.messages) put(`message/${m.sessionID}/${m.id}.json`, m);
  for (const p of objects.parts) put(`part/${p.messageID}/${p.id}.json`, p);
  return storage;
}

/**
 * A monitor store over an in-memory DuckDB with its tables, and a temporary folder for the
 * logs a test writes; `close` removes both.
 */
export async function openMonitorTestStore(prefix: string): Promise<{
  dir: string;
  duckdb: DuckDb;
  store: MonitorStore;
  close: () => Promise<void>;
}> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const duckdb = await openDuckDb({ path: ':memory:', connections: 2, threads: 1 });
  await ensureMonitorTables(duckdb);
  return {
    dir,
    duckdb,
    store: createMonitorStore(duckdb),
    async close() {
      await duckdb.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** openMonitorTestStore for the tests of one describe block: opened before them, closed after. */
export function monitorTestStore(prefix: string): {
  dir: string;
  duckdb: DuckDb;
  store: MonitorStore;
} {
  const env = {} as { dir: string; duckdb: DuckDb; store: MonitorStore };
  let close = async () => {};
  beforeAll(async () => {
    const { close: closeStore, ...opened } = await openMonitorTestStore(prefix);
    close = closeStore;
    Object.assign(env, opened);
  });
  afterAll(() => close());
  return env;
}

/** A log tree's files named relative to `root` (after `prefix`), as an upload names them. */
export function claudeFiles(root: string, prefix = ''): { name: string; content: Buffer }[] {
  const files: { name: string; content: Buffer }[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else
        files.push({ name: `${prefix}${path.relative(root, full)}`, content: readFileSync(full) });
    }
  };
  walk(root);
  return files;
}

/** A multipart body whose file names carry folders, as a browser folder upload sends them. */
export function multipartFiles(files: { name: string; content: Buffer | string }[]) {
  const boundary = '----monitor-test-boundary';
  const chunks: Buffer[] = [];
  for (const file of files) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      Buffer.from(file.content),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}
