import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CLAUDE_EXPLORE_ROW,
  CLAUDE_SESSION,
  writeClaudeProjects,
  writeOpenCodeDb,
} from '../monitor/monitor-test-helpers.ts';
import { uuidv7 } from '../platform/ids.ts';
import { cliDataDirPerSuite, runCliCommand, withCliDatabase } from './cli-test-helpers.ts';
import { registerMonitorCommands } from './monitor-commands.ts';

const projectId = uuidv7();
const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-cli-'));
const storage = cliDataDirPerSuite({
  seed: (db) =>
    sql`insert into project (id, name) values (${projectId}, 'Monitor CLI')`
      .execute(db)
      .then(() => undefined),
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]) => runCliCommand(registerMonitorCommands, args);
/** `monitor report --by <by> [...options] --json` over this file's project. */
const reportJson = (by: string, ...options: string[]) =>
  run('monitor', 'report', '--project', projectId, '--by', by, ...options, '--json');

/** A `--json` answer of `{ rows }` whose every row has exactly `keys`, in that order. */
function rowsWithKeys(result: { out: string; error: unknown }, keys: string[]) {
  expect(result.error).toBeUndefined();
  const body = JSON.parse(result.out) as { rows: Record<string, unknown>[] };
  expect(Object.keys(body)).toEqual(['rows']);
  for (const row of body.rows) expect(Object.keys(row)).toEqual(keys);
  return body;
}

// Every command opens the platform (PGlite, DuckDB) as the CLI does: a bound for two busy
// cores, not a speed limit.
describe('braincells monitor (JSON shapes)', { timeout: 120_000 }, () => {
  it('import --json prints exactly the counts of this import', async () => {
    const { projects } = writeClaudeProjects(path.join(dir, 'claude'));
    const first = await run('monitor', 'import', projects, '--project', projectId, '--json');
    expect(first.error).toBeUndefined();
    expect(JSON.parse(first.out)).toStrictEqual({
      files: 3,
      records: 15,
      badLines: 3,
      sessions: 3,
      usageEvents: 5,
    });
    const again = await run('monitor', 'import', projects, '--project', projectId, '--json');
    expect(JSON.parse(again.out)).toStrictEqual({
      files: 0,
      records: 0,
      badLines: 0,
      sessions: 0,
      usageEvents: 0,
    });
    const opencode = path.join(dir, 'opencode');
    writeOpenCodeDb(opencode);
    const oc = await run(
      'monitor',
      'import',
      opencode,
      '--project',
      projectId,
      '--source',
      'opencode',
      '--json',
    );
    expect(JSON.parse(oc.out)).toStrictEqual({
      files: 1,
      records: 11,
      badLines: 0,
      sessions: 2,
      usageEvents: 4,
    });
  });

  it('report --by session --json: one row per session and per sub-agent, exactly these keys', async () => {
    const body = rowsWithKeys(await reportJson('session'), [
      'source',
      'sessionId',
      'agentId',
      'agentType',
      'parentSessionId',
      'records',
      'tokens',
      'costUsd',
      'costBasis',
    ]);
    for (const row of body.rows) {
      expect(Object.keys(row.tokens as object)).toEqual([
        'input',
        'output',
        'reasoning',
        'cacheRead',
        'cacheWrite',
      ]);
    }
    expect(body.rows.find((row) => row.agentId === 'aac57f5')).toStrictEqual(CLAUDE_EXPLORE_ROW);
    expect(body.rows.find((row) => row.sessionId === 'ses_child')).toMatchObject({
      source: 'opencode',
      agentId: null,
      agentType: 'general',
      parentSessionId: 'ses_root',
    });
    expect(body.rows).toHaveLength(5);
  });

  it('report --by day and --by model carry the same token object', async () => {
    const day = JSON.parse((await reportJson('day', '--timezone', 'Europe/Paris')).out);
    expect(day.rows.map((row: { day: string }) => row.day)).toEqual(['2026-01-10', '2026-01-11']);
    expect(Object.keys(day.rows[0])).toEqual([
      'day',
      'sessions',
      'usageEvents',
      'tokens',
      'costUsd',
      'costBasis',
      'unpricedEvents',
    ]);
    const model = JSON.parse(
      (await run('monitor', 'report', '--project', projectId, '--by', 'model', '--json')).out,
    );
    const unknown = model.rows.find((row: { model: string }) => row.model === 'my-private-model');
    expect(unknown).toStrictEqual({
      source: 'claude-code',
      provider: 'anthropic',
      model: 'my-private-model',
      usageEvents: 1,
      tokens: { input: 7, output: 3, reasoning: 0, cacheRead: 0, cacheWrite: 0 },
      costUsd: null,
      costBasis: 'unpriced',
      unpricedEvents: 1,
    });
    const since = JSON.parse((await reportJson('model', '--since', '2026-01-10T23:00:00Z')).out);
    expect(
      since.rows
        .map((row: { usageEvents: number }) => row.usageEvents)
        .reduce((a: number, b: number) => a + b, 0),
    ).toBe(2);
  });

  it('report --by branch --json: {"by","rows"} with the same token object', async () => {
    const { out, error } = await reportJson('branch');
    expect(error).toBeUndefined();
    const body = JSON.parse(out);
    expect(Object.keys(body)).toEqual(['by', 'rows']);
    expect(body.by).toBe('branch');
    // The Claude Code fixture's lines name branch main (its sub-agents take their session's);
    // OpenCode names none.
    // Rows come costliest first.
    expect(body.rows.map((row: { key: string | null }) => row.key).sort()).toEqual(['main', null]);
    expect(body.rows.filter((row: { key: string | null }) => row.key === 'main')).toStrictEqual([
      {
        key: 'main',
        sessions: 3,
        usageEvents: 5,
        tokens: { input: 26, output: 364, reasoning: 0, cacheRead: 1500, cacheWrite: 300 },
        costUsd: expect.any(Number),
        costBasis: 'partial',
        unpricedEvents: 1,
      },
    ]);
  });

  it('report --by block --json: 5-hour blocks with the same token object', async () => {
    const { out, error } = await reportJson('block');
    expect(error).toBeUndefined();
    const rows = JSON.parse(out).rows;
    // Claude Code: 10:00–12:00 (3 calls) and 23:30–23:40 (2); OpenCode: 10:00–10:09 (4).
    expect(
      rows.map((row: { start: string; usageEvents: number }) => [row.start, row.usageEvents]),
    ).toEqual([
      ['2026-01-10T10:00:00.000Z', 7],
      ['2026-01-10T23:00:00.000Z', 2],
    ]);
    expect(Object.keys(rows[0].tokens)).toEqual([
      'input',
      'output',
      'reasoning',
      'cacheRead',
      'cacheWrite',
    ]);
    expect(rows[0].active).toBe(false);
  });

  it('report --by tools and --by own-calls --json', async () => {
    const tools = await reportJson('tools');
    expect(tools.error).toBeUndefined();
    const task = JSON.parse(tools.out).rows.find(
      (row: { toolName: string }) => row.toolName === 'Task',
    );
    expect(task).toMatchObject({ calls: 1, failures: 0, durationP50Ms: 298_000 });

    await withCliDatabase(storage(), (db) =>
      sql`insert into llm_calls (id, call_id, created_at, project_id, feature, entity_ids,
          provider_ref, provider_kind, model, attempt, status, cache_status, latency_ms, cost_nano)
        values (${uuidv7()}, ${uuidv7()}, now(), ${projectId}, 'chat', '{}', 'env:openai', 'openai',
          'gpt-4o-mini', 1, 'ok', 'miss', 120, 2000),
          (${uuidv7()}, ${uuidv7()}, now(), ${projectId}, 'chat', '{}', 'env:openai', 'openai',
          'gpt-4o-mini', 1, 'timeout', 'miss', 30000, null)`.execute(db),
    );
    const own = await reportJson('own-calls', '--group', 'model');
    expect(own.error).toBeUndefined();
    expect(JSON.parse(own.out)).toEqual({
      by: 'model',
      rows: [
        {
          key: 'openai/gpt-4o-mini',
          calls: 2,
          attempts: 2,
          errors: 1,
          errorRate: 0.5,
          cacheHits: 0,
          cacheHitRate: 0,
          latencyP50Ms: 15_060,
          latencyP95Ms: 28_506,
          inputTokens: 0,
          outputTokens: 0,
          costUsd: 0.000002,
          unpricedAttempts: 1,
        },
      ],
    });
    const bad = await run(
      'monitor',
      'report',
      '--project',
      projectId,
      '--by',
      'own-calls',
      '--group',
      'user',
    );
    expect(bad.error).toMatchObject({ exitCode: 2 });
  });

  it('exchanges --json: each user turn of a session, exactly these keys; a table without', async () => {
    const key = `cc:${CLAUDE_SESSION}`;
    const body = rowsWithKeys(
      await run('monitor', 'exchanges', key, '--project', projectId, '--json'),
      [
        'index',
        'messageId',
        'at',
        'until',
        'lastReplyAt',
        'prompt',
        'reply',
        'toolCalls',
        'usageEvents',
        'tokens',
        'costUsd',
        'costBasis',
        'unpricedEvents',
      ],
    );
    // One user turn; the three model calls after it (one of them unpriced) and one tool call.
    expect(body.rows).toMatchObject([
      {
        index: 1,
        messageId: 'u1',
        at: '2026-01-10T10:00:00.000Z',
        until: null,
        prompt: 'Find the bug',
        toolCalls: 1,
        usageEvents: 3,
        tokens: { input: 22, output: 322, reasoning: 0, cacheRead: 1500, cacheWrite: 300 },
        costBasis: 'partial',
        unpricedEvents: 1,
      },
    ]);
    const table = await run('monitor', 'exchanges', key, '--project', projectId);
    expect(table.error).toBeUndefined();
    const [header, first] = table.out.trimEnd().split('\n');
    expect(header).toMatch(/^index\s+at\s+prompt\s+reply\s+tools\s+calls\s+input\s+output\b/);
    expect(first).toContain('Find the bug');
    expect(first).toMatch(/\b22\s+322\s+1500\s/);
    const missing = await run('monitor', 'exchanges', 'cc:nope', '--project', projectId, '--json');
    expect(missing.error).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses a bad --by, --since or --timezone as usage errors', async () => {
    for (const args of [
      ['--by', 'week'],
      ['--by', 'day', '--timezone', 'Nowhere/Land'],
      ['--since', 'yesterday'],
    ]) {
      const { error } = await run('monitor', 'report', '--project', projectId, ...args);
      expect(error).toMatchObject({ exitCode: 2 });
    }
  });
});
