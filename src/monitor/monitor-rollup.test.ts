import { appendFileSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../platform/ids.ts';
import { usageBlocks, usageBlocksOfSlices } from './monitor-blocks.ts';
import { importTree } from './monitor-import.ts';
import type { UsageReadMode } from './monitor-store.ts';
import { ensureMonitorTables } from './monitor-tables.ts';
import {
  CLAUDE_SESSION,
  monitorTestStore,
  SONNET,
  writeClaudeProjects,
  writeOpenCodeDb,
  writeOpenCodeStorage,
} from './monitor-test-helpers.ts';

// Reports read the rollup (per session, UTC quarter-hour and model); the events are the
// reference. After every kind of write, every report must give the same answer both ways.

interface Call {
  messageId: string;
  at: string | null;
  output: number;
  model?: string;
}

const line = (sessionId: string, call: Call, index: number) =>
  JSON.stringify({
    type: 'assistant',
    sessionId,
    uuid: `${sessionId}-${index}`,
    ...(call.at === null ? {} : { timestamp: call.at }),
    requestId: `req_${call.messageId}`,
    cwd: '/home/dev/app',
    gitBranch: 'main',
    message: {
      id: call.messageId,
      role: 'assistant',
      model: call.model ?? SONNET,
      content: [{ type: 'text', text: 'ok' }],
      usage: {
        input_tokens: 3,
        output_tokens: call.output,
        cache_read_input_tokens: 40,
        cache_creation_input_tokens: 7,
      },
    },
  });

const transcript = (sessionId: string, calls: Call[]) =>
  `${calls.map((call, index) => line(sessionId, call, index)).join('\n')}\n`;

/** Calls every 7 minutes from `start`: they cross quarter-hours, hours, days and blocks. */
function calls(prefix: string, start: string, count: number, model?: string): Call[] {
  const from = Date.parse(start);
  return Array.from({ length: count }, (_, index) => ({
    messageId: `${prefix}_${index}`,
    at: new Date(from + index * 7 * 60_000 + index * 1_234).toISOString(),
    output: 10 + index,
    ...(model === undefined ? {} : { model }),
  }));
}

describe('monitor usage rollup', () => {
  const env = monitorTestStore('monitor-rollup-');

  async function reports(projectId: string, mode: UsageReadMode, since?: Date) {
    const filter = { projectId, since };
    const slices = await env.store.blockSlices(filter, mode);
    const now = Date.parse('2026-01-12T03:00:00Z');
    return {
      sessions: await env.store.sessionReport(filter, mode),
      daysUtc: await env.store.dayReport(filter, 'UTC', mode),
      daysParis: await env.store.dayReport(filter, 'Europe/Paris', mode),
      daysKathmandu: await env.store.dayReport(filter, 'Asia/Kathmandu', mode),
      daysChatham: await env.store.dayReport(filter, 'Pacific/Chatham', mode),
      models: await env.store.modelReport(filter, mode),
      providers: await env.store.breakdownReport(filter, 'provider', mode),
      projects: await env.store.breakdownReport(filter, 'project', mode),
      branches: await env.store.breakdownReport(filter, 'branch', mode),
      blocks: usageBlocksOfSlices(slices, now),
    };
  }

  /** Every report, with and without `since`, from the rollup and from the events. */
  async function expectSameAnswers(projectId: string) {
    const fromEvents = await reports(projectId, 'events');
    expect(await reports(projectId, 'rollup')).toEqual(fromEvents);
    // The per-event blocks give what the quarter-hour slices give.
    const events = await env.store.blockEvents({ projectId, since: undefined });
    expect(usageBlocks(events, Date.parse('2026-01-12T03:00:00Z'))).toEqual(fromEvents.blocks);
    // An instant inside a quarter-hour: that quarter's events are read one by one.
    for (const since of ['2026-01-10T10:07:31.500Z', '2026-01-11T00:00:00Z']) {
      expect(await reports(projectId, 'rollup', new Date(since))).toEqual(
        await reports(projectId, 'events', new Date(since)),
      );
    }
    return fromEvents;
  }

  it('answers as the events do after imports, re-imports, tails, copies and replacements', async () => {
    const projectId = uuidv7();
    const root = path.join(env.dir, 'logs');
    const folder = path.join(root, 'claude', 'projects', '-home-dev-other');
    mkdirSync(folder, { recursive: true });
    writeClaudeProjects(path.join(root, 'claude'));
    writeOpenCodeStorage(path.join(root, 'opencode-json'));
    writeOpenCodeDb(path.join(root, 'opencode-db'));
    const first = path.join(folder, 'aaaaaaaa-0000-4000-8000-000000000001.jsonl');
    const second = path.join(folder, 'aaaaaaaa-0000-4000-8000-000000000002.jsonl');
    const firstCalls = [
      ...calls('a', '2026-01-10T21:50:00Z', 30),
      ...calls('a_haiku', '2026-01-10T22:05:00Z', 5, 'claude-haiku-4-5'),
      ...calls('a_unknown', '2026-01-11T01:00:00Z', 3, 'model-with-no-price'),
      { messageId: 'a_undated', at: null, output: 9 },
    ];
    writeFileSync(first, transcript('aaaaaaaa-0000-4000-8000-000000000001', firstCalls));
    const importAll = () => importTree({ store: env.store, projectId, root, source: 'auto' });

    await importAll();
    const initial = await expectSameAnswers(projectId);
    expect(initial.sessions.length).toBeGreaterThan(3);
    expect(initial.daysUtc.length).toBeGreaterThan(1);
    expect(initial.blocks.length).toBeGreaterThan(1);

    // Importing again changes nothing, either way.
    expect((await importAll()).files).toBe(0);
    expect(await expectSameAnswers(projectId)).toEqual(initial);

    // Tailing: a transcript grows (the new calls are read from its checkpoint).
    const more = calls('a_more', '2026-01-11T02:10:00Z', 6);
    const appended = more.map((call, index) =>
      line('aaaaaaaa-0000-4000-8000-000000000001', call, 100 + index),
    );
    appendFileSync(first, `${appended.join('\n')}\n`);
    await importAll();
    const tailed = await expectSameAnswers(projectId);
    expect(tailed.sessions.reduce((sum, row) => sum + row.usageEvents, 0)).toBe(
      initial.sessions.reduce((sum, row) => sum + row.usageEvents, 0) + 6,
    );

    // A resumed session's copy of calls with more output: the copy counts, not the original,
    // though the original's file did not change.
    const copied = firstCalls.slice(0, 4).map((call) => ({ ...call, output: call.output + 1000 }));
    writeFileSync(second, transcript('aaaaaaaa-0000-4000-8000-000000000002', copied));
    await importAll();
    const withCopy = await expectSameAnswers(projectId);
    const sessionOf = (rows: typeof withCopy.sessions, id: string) =>
      rows.find((row) => row.sessionId === id && row.agentId === null);
    expect(sessionOf(withCopy.sessions, 'aaaaaaaa-0000-4000-8000-000000000002')?.usageEvents).toBe(
      4,
    );
    expect(sessionOf(withCopy.sessions, 'aaaaaaaa-0000-4000-8000-000000000001')?.usageEvents).toBe(
      firstCalls.length + more.length - 4,
    );

    // The copy is rewritten with less output and one call fewer: the originals count again.
    writeFileSync(
      second,
      transcript(
        'aaaaaaaa-0000-4000-8000-000000000002',
        copied.slice(1).map((call) => ({ ...call, output: 1 })),
      ),
    );
    await importAll();
    const replaced = await expectSameAnswers(projectId);
    expect(sessionOf(replaced.sessions, 'aaaaaaaa-0000-4000-8000-000000000002')?.usageEvents).toBe(
      0,
    );

    // The first transcript is rewritten shorter (read whole, its rows replaced), then deleted
    // (its rows stay, departed).
    writeFileSync(first, transcript('aaaaaaaa-0000-4000-8000-000000000001', firstCalls.slice(2)));
    await importAll();
    await expectSameAnswers(projectId);
    unlinkSync(first);
    expect((await importAll()).departed).toBe(1);
    await expectSameAnswers(projectId);
  }, 120_000); // dozens of reports read both ways: about 25 s alone on two busy cores

  it('is filled from the events already stored when the table is created', async () => {
    const projectId = uuidv7();
    const root = path.join(env.dir, 'backfill');
    writeClaudeProjects(root);
    await importTree({ store: env.store, projectId, root, source: 'claude-code' });
    const before = await reports(projectId, 'rollup');
    await env.duckdb.run('drop table monitor_usage_rollup');
    await ensureMonitorTables(env.duckdb);
    expect(await reports(projectId, 'rollup')).toEqual(before);
    expect(await reports(projectId, 'events')).toEqual(before);
    // Rebuilding a project's rollup (after events written by other means) changes nothing.
    await env.store.rebuildRollup(projectId);
    expect(await reports(projectId, 'rollup')).toEqual(before);
  });

  it("puts the fixture's one user turn and everything after it in one exchange", async () => {
    const projectId = uuidv7();
    const root = path.join(env.dir, 'exchange');
    writeClaudeProjects(root);
    await importTree({ store: env.store, projectId, root, source: 'claude-code' });
    // The Task result is a user line but not a turn; the hand-counted main session totals.
    expect(await env.store.sessionExchanges(projectId, `cc:${CLAUDE_SESSION}`, 10)).toEqual([
      {
        index: 1,
        messageId: 'u1',
        at: Date.parse('2026-01-10T10:00:00Z'),
        until: null,
        lastReplyAt: Date.parse('2026-01-10T23:41:00Z'),
        prompt: 'Find the bug',
        reply: 'No response requested.',
        toolCalls: 1,
        tokens: { input: 22, output: 322, reasoning: 0, cacheRead: 1500, cacheWrite: 300 },
        usageEvents: 3,
        costNano: 6_855_000,
        unpricedEvents: 1,
        reportedEvents: 0,
        computedEvents: 2,
      },
    ]);
  });

  it('reads the events for days in a zone whose offset is not whole quarter-hours', async () => {
    const projectId = uuidv7();
    const folder = path.join(env.dir, 'lmt', 'projects', '-old');
    mkdirSync(folder, { recursive: true });
    // Liberia kept UTC−0:44:30 until 1972: a quarter-hour of UTC spans two local days there.
    writeFileSync(
      path.join(folder, 'bbbbbbbb-0000-4000-8000-000000000001.jsonl'),
      transcript('bbbbbbbb-0000-4000-8000-000000000001', [
        { messageId: 'old_1', at: '1970-01-02T00:40:00Z', output: 5 },
        { messageId: 'old_2', at: '1970-01-02T00:50:00Z', output: 7 },
      ]),
    );
    await importTree({
      store: env.store,
      projectId,
      root: path.join(env.dir, 'lmt'),
      source: 'claude-code',
    });
    const filter = { projectId, since: undefined };
    const days = await env.store.dayReport(filter, 'Africa/Monrovia');
    expect(days.map((day) => [day.day, day.tokens.output])).toEqual([
      ['1970-01-01', 5],
      ['1970-01-02', 7],
    ]);
    expect(days).toEqual(await env.store.dayReport(filter, 'Africa/Monrovia', 'events'));
  });
});
