// The live bench's transcripts (bench/monitor-live*.ts): one Claude Code API call streamed as
// 3 lines, output growing 1 → 50 → 300 (300 counts), each call with its own ids.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { uuidv7 } from '../src/platform/ids.ts';

let calls = 0;

/** Calls made so far (each counts 300 output tokens). */
export const liveCalls = () => calls;

export function liveCallLines(sessionId: string): string {
  calls++;
  const lines: string[] = [];
  for (const output of [1, 50, 300]) {
    lines.push(
      JSON.stringify({
        type: 'assistant',
        sessionId,
        uuid: uuidv7(),
        requestId: `req_${calls}`,
        timestamp: new Date(1768039200000 + calls * 1000).toISOString(),
        message: {
          id: `msg_${calls}`,
          model: 'claude-sonnet-4-5-20250929',
          role: 'assistant',
          content: [{ type: 'text', text: 'y'.repeat(300) }],
          usage: { input_tokens: 10, output_tokens: output, cache_read_input_tokens: 1000 },
        },
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

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
    const sessionId = `00000000-0000-4000-8000-${String(f).padStart(12, '0')}`;
    const file = path.join(folder, `${sessionId}.jsonl`);
    let text = '';
    while (text.length < kb * 1024) text += liveCallLines(sessionId);
    writeFileSync(file, text);
    written.push({ file, sessionId });
  }
  return written;
}
