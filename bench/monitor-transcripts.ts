// The synthetic logs the Monitor benches read (bench/monitor*.ts): Claude Code transcripts, each
// API call streamed as 3 lines with output growing 1 → 50 → 300 (300 counts), and an OpenCode
// JSON tree. One generator, so every bench measures the same line shape.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { uuidv7 } from '../src/platform/ids.ts';

/** Output tokens of one call's streamed lines; the last (largest) is the one that counts. */
const STREAMED_OUTPUT = [1, 50, 300] as const;

export interface ClaudeCallShape {
  /** Milliseconds between two calls' timestamps (call n is at 2026-01-10T10:00Z + n × this). */
  stepMs: number;
  /** Whether the usage carries `cache_creation` (50 five-minute write tokens per call). */
  cacheWrites: boolean;
}

/** Call number `call` (its `msg_<n>` / `req_<n>` ids) of `sessionId`, as 3 JSONL lines. */
export function claudeCallLines(sessionId: string, call: number, shape: ClaudeCallShape): string[] {
  return STREAMED_OUTPUT.map((output) =>
    JSON.stringify({
      type: 'assistant',
      sessionId,
      uuid: uuidv7(),
      requestId: `req_${call}`,
      timestamp: new Date(1768039200000 + call * shape.stepMs).toISOString(),
      message: {
        id: `msg_${call}`,
        model: 'claude-sonnet-4-5-20250929',
        role: 'assistant',
        content: [{ type: 'text', text: 'y'.repeat(300) }],
        usage: {
          input_tokens: 10,
          output_tokens: output,
          cache_read_input_tokens: 1000,
          ...(shape.cacheWrites
            ? { cache_creation: { ephemeral_5m_input_tokens: 50, ephemeral_1h_input_tokens: 0 } }
            : {}),
        },
      },
    }),
  );
}

const sessionIdOf = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/**
 * The bulk benches' transcripts: about `mb` MB under `root/projects/-home-dev-app`, sessions of
 * 400 calls 10 s apart, with cache writes. Returns the bytes written and the calls (each
 * counting input 10, output 300, cache read 1,000, cache write 50).
 */
export function writeClaudeTree(root: string, mb: number): { bytes: number; calls: number } {
  const folder = path.join(root, 'projects', '-home-dev-app');
  mkdirSync(folder, { recursive: true });
  const target = mb * 1024 * 1024;
  let bytes = 0;
  let calls = 0;
  let session = 0;
  while (bytes < target) {
    const sessionId = sessionIdOf(session++);
    const lines: string[] = [];
    for (let call = 0; call < 400; call++)
      lines.push(...claudeCallLines(sessionId, ++calls, { stepMs: 10_000, cacheWrites: true }));
    const text = `${lines.join('\n')}\n`;
    writeFileSync(path.join(folder, `${sessionId}.jsonl`), text);
    bytes += Buffer.byteLength(text);
  }
  return { bytes, calls };
}

// The live benches' calls are numbered across the process, so appended calls never repeat ids.
let liveCallCount = 0;

/** Live calls made so far (each counts 300 output tokens). */
export const liveCalls = () => liveCallCount;

/** The next live call of `sessionId` (1 s after the previous one, no cache writes). */
export const liveCallLines = (sessionId: string): string =>
  `${claudeCallLines(sessionId, ++liveCallCount, { stepMs: 1000, cacheWrites: false }).join('\n')}\n`;

/** `files` transcripts of about `kb` KB under `root/-home-dev-app`, one session each. */
export function writeLiveTree(
  root: string,
  files: number,
  kb: number,
): { file: string; sessionId: string }[] {
  const folder = path.join(root, '-home-dev-app');
  mkdirSync(folder, { recursive: true });
  const written: { file: string; sessionId: string }[] = [];
  for (let f = 0; f < files; f++) {
    const sessionId = sessionIdOf(f);
    const file = path.join(folder, `${sessionId}.jsonl`);
    let text = '';
    while (text.length < kb * 1024) text += liveCallLines(sessionId);
    writeFileSync(file, text);
    written.push({ file, sessionId });
  }
  return written;
}

/**
 * ≈ `files` OpenCode JSON files under `root` (a `storage` folder): per session 1 session file,
 * 5 messages, 3 parts each (1 step-finish). Returns the files written.
 */
export function writeOpenCodeTree(root: string, files: number): number {
  const perSession = 1 + 5 * (1 + 3);
  const sessions = Math.max(1, Math.round(files / perSession));
  let written = 0;
  const put = (relative: string, value: unknown) => {
    const file = path.join(root, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(value, null, 2));
    written++;
  };
  for (let s = 0; s < sessions; s++) {
    const sessionId = `ses_${String(s).padStart(8, '0')}`;
    put(`session/proj/${sessionId}.json`, {
      id: sessionId,
      projectID: 'proj',
      title: `Session ${s}`,
      directory: '/home/dev/app',
      version: '1.1.0',
      time: { created: 1768039200000 + s * 1000, updated: 1768039200000 + s * 1000 + 500 },
    });
    for (let m = 0; m < 5; m++) {
      const messageId = `msg_${String(s).padStart(8, '0')}_${m}`;
      put(`message/${sessionId}/${messageId}.json`, {
        id: messageId,
        sessionID: sessionId,
        role: 'assistant',
        time: { created: 1768039200000 + s * 1000 + m },
        modelID: 'claude-sonnet-4-5',
        providerID: 'anthropic',
        cost: 0,
        tokens: { input: 10, output: 20, reasoning: 0, cache: { read: 100, write: 5 } },
      });
      for (let p = 0; p < 3; p++) {
        const partId = `prt_${String(s).padStart(8, '0')}_${m}_${p}`;
        put(
          `part/${messageId}/${partId}.json`,
          p === 2
            ? {
                id: partId,
                sessionID: sessionId,
                messageID: messageId,
                type: 'step-finish',
                cost: 0,
                tokens: { input: 10, output: 20, reasoning: 0, cache: { read: 100, write: 5 } },
              }
            : {
                id: partId,
                sessionID: sessionId,
                messageID: messageId,
                type: 'text',
                text: 'x'.repeat(200),
              },
        );
      }
    }
  }
  return written;
}
