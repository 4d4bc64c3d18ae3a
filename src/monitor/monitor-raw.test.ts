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

  it('reads each content block and usage from its line, storing neither a second time', async () => {
    const folder = path.join(env.dir, 'projects-by-reference', '-home-dev-other');
    mkdirSync(folder, { recursive: true });
    const session = '7d0c1f4e-2b1a-4c3d-9e8f-0000000000aa';
    const entries = [
      // A string content becomes a text block of its own: its raw JSON is stored.
      { uuid: 'u1', type: 'user', message: { role: 'user', content: 'plain prompt' } },
      {
        uuid: 'a1',
        type: 'assistant',
        requestId: 'r1',
        message: {
          id: 'm1',
          model: 'claude-sonnet-4-5-20250929',
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hm', signature: 'sig' },
            { type: 'text', text: 'caf\u00e9 "quoted"' },
            { type: 'tool_use', id: 't1', name: 'Read', input: { file_path: '/a', n: 1.5 } },
          ],
          usage: {
            input_tokens: 3,
            output_tokens: 9,
            cache_read_input_tokens: 100,
            cache_creation: { ephemeral_5m_input_tokens: 4, ephemeral_1h_input_tokens: 6 },
          },
        },
      },
      // A non-object inside the content shifts the blocks' indexes: they keep their raw JSON.
      {
        uuid: 'u2',
        type: 'user',
        message: {
          role: 'user',
          content: ['stray', { type: 'tool_result', tool_use_id: 't1', content: 'done' }],
        },
      },
    ].map((entry, index) => ({
      sessionId: session,
      timestamp: `2026-01-10T10:00:0${index}.000Z`,
      ...entry,
    }));
    writeFileSync(
      path.join(folder, `${session}.jsonl`),
      `${entries.map((entry) => JSON.stringify(entry)).join('\n')}\n`,
    );
    const projectId = uuidv7();
    await importTree({
      store: env.store,
      projectId,
      root: path.dirname(folder),
      source: 'claude-code',
    });
    const parts = await env.duckdb.query(
      `select p.part_id, p.raw::varchar as raw, (s.raw is null) as by_reference
       from monitor_part_json p join monitor_part s using (project_id, file_id, part_id)
       where project_id = $1 order by p.source_ref, p.part_id`,
      [projectId],
    );
    const blocks = (index: number) => {
      const content = entries[index]!.message.content;
      return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
    };
    expect(
      parts.map((row) => [row.part_id, JSON.parse(String(row.raw)), row.by_reference]),
    ).toEqual([
      ['u1:0', blocks(0)[0], false],
      ['a1:0', blocks(1)[0], true],
      ['a1:1', blocks(1)[1], true],
      ['a1:2', blocks(1)[2], true],
      ['u2:0', blocks(2)[1], false],
    ]);
    const usage = await env.duckdb.query(
      `select u.raw::varchar as raw, (s.raw is null) as by_reference
       from monitor_usage_json u join monitor_usage_event s using (project_id, file_id, event_key)
       where project_id = $1`,
      [projectId],
    );
    expect(usage.map((row) => [JSON.parse(String(row.raw)), row.by_reference])).toEqual([
      [entries[1]!.message.usage, true],
    ]);
  });
});
