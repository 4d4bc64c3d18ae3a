import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../platform/ids.ts';
import { importTree } from './monitor-import.ts';
import { CLAUDE_SESSION, monitorTestStore } from './monitor-test-helpers.ts';

// Every row keeps its raw JSON: a Claude Code message keeps its line as written.
describe('monitor raw JSON of Claude Code messages', () => {
  const env = monitorTestStore('monitor-raw-');

  it('stores each line byte for byte: key order, escapes and numbers JSON.parse would change', async () => {
    const folder = path.join(env.dir, 'projects', '-home-dev-app');
    mkdirSync(folder, { recursive: true });
    // Written by hand: a serializer would reorder nothing here but would turn the escape into
    // "é", 1.50 into 1.5 and the 25-digit number into 1.2345678901234568e+24.
    const lines = [
      `{"uuid":"u1","type":"user","sessionId":"${CLAUDE_SESSION}","timestamp":"2026-01-10T10:00:00.000Z","message":{"role":"user","content":"caf\\u00e9"},"extra":1.50}`,
      `{"type":"assistant","sessionId":"${CLAUDE_SESSION}","uuid":"a1","requestId":"r1","timestamp":"2026-01-10T10:00:01.000Z","message":{"id":"m1","model":"claude-sonnet-4-5-20250929","role":"assistant","content":[{"type":"text","text":"ok"}],"usage":{"input_tokens":3,"output_tokens":2}},"big":1234567890123456789012345}`,
    ];
    writeFileSync(path.join(folder, `${CLAUDE_SESSION}.jsonl`), `${lines.join('\n')}\n`);
    const projectId = uuidv7();
    const result = await importTree({
      store: env.store,
      projectId,
      root: path.join(env.dir, 'projects'),
      source: 'claude-code',
    });
    expect(result).toMatchObject({ files: 1, records: 2, badLines: 0, usageEvents: 1 });
    const rows = await env.duckdb.query(
      `select raw::varchar as raw, raw->>'$.message.role' as role from monitor_message
       where project_id = $1 order by source_ref`,
      [projectId],
    );
    expect(rows.map((row) => row.raw)).toEqual(lines);
    // Still JSON to DuckDB: its fields read as before.
    expect(rows.map((row) => row.role)).toEqual(['user', 'assistant']);
  });
});
