import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createProjectWithMembers,
  type ProjectWithMembers,
  type TestSession,
} from '../../test/factories.ts';
import { usageRowFixture } from '../llm/llm-test-env.ts';
import { createUsageStore, type UsageRow } from '../llm/llm-usage-store.ts';
import { uuidv7 } from '../platform/ids.ts';
import { monitorTestApp } from './monitor-test-app.ts';
import { SONNET, writeClaudeProjects, writeOpenCodeStorage } from './monitor-test-helpers.ts';

const env = monitorTestApp('monitor-analytics-');
const { dir } = env;
let other: ProjectWithMembers;

beforeAll(async () => {
  other = await createProjectWithMembers(env.t);
});

function get(session: TestSession, url: string) {
  return env.t.app.inject({ method: 'GET', url, headers: session.headers });
}

/** One `llm_calls` row as the LLM module records it (fixture data, written once). */
function call(projectId: string, partial: Partial<UsageRow>): UsageRow {
  return usageRowFixture(projectId, {
    feature: 'sheet-cell',
    entityIds: { datasetId: 'ds-1', columnId: 'col-1' },
    usage: {
      uncachedInputTokens: 10,
      cacheReadTokens: 0,
      cacheWriteTokens: undefined,
      outputTokens: 5,
      reasoningTokens: undefined,
    },
    costNano: 1_000,
    latencyMs: 100,
    ttftMs: undefined,
    ...partial,
  });
}

describe('own LLM calls', () => {
  beforeAll(async () => {
    const p = env.team.project.id;
    const retried = uuidv7();
    await createUsageStore(env.t.platform.database.db).insert([
      call(p, { latencyMs: 100 }),
      call(p, { latencyMs: 200 }),
      // A call that failed once and succeeded on its retry: one call, two attempts.
      call(p, {
        callId: retried,
        latencyMs: 1_000,
        status: 'error',
        errorCode: 'RATE_LIMITED',
        costNano: null,
      }),
      call(p, { callId: retried, attempt: 2, latencyMs: 300 }),
      // A cache hit answers in no time: a call, not an attempt, not in the latency.
      call(p, { status: 'cache-hit', cacheStatus: 'hit', latencyMs: 0, costNano: 0 }),
      call(p, {
        feature: 'chat',
        entityIds: {},
        model: 'claude-x',
        providerKind: 'anthropic',
        // Reasoning is part of output already: counted once.
        usage: {
          uncachedInputTokens: 7,
          cacheReadTokens: 3,
          cacheWriteTokens: 2,
          outputTokens: 9,
          reasoningTokens: 4,
        },
        latencyMs: 50,
        costNano: null,
      }),
      call(p, { createdAt: new Date('2026-10-01T00:00:00Z'), feature: 'workflow', entityIds: {} }),
      // Another project's call is never counted here.
      call(other.project.id, { latencyMs: 9_999 }),
    ]);
  });
  const url = (query: string) => `/api/projects/${env.team.project.id}/monitor/own-calls?${query}`;

  it('reports calls, attempts, error and cache-hit rates and latency p50/p95 by feature', async () => {
    const response = await get(env.team.viewer, url('by=feature'));
    expect(response.statusCode).toBe(200);
    const { by, items } = response.json();
    expect(by).toBe('feature');
    const sheet = items.find((row: { key: string }) => row.key === 'sheet-cell');
    expect(sheet).toEqual({
      key: 'sheet-cell',
      calls: 4,
      attempts: 4,
      errors: 1,
      errorRate: 0.25,
      cacheHits: 1,
      cacheHitRate: 0.25,
      // provider attempts 100, 200, 300, 1000 (the cache hit's 0 is left out)
      latencyP50Ms: 250,
      latencyP95Ms: 895,
      inputTokens: 50,
      outputTokens: 25,
      costUsd: 3_000 / 1e9,
      unpricedAttempts: 1,
    });
    expect(items.map((row: { key: string }) => row.key).sort()).toEqual([
      'chat',
      'sheet-cell',
      'workflow',
    ]);
    const chat = items.find((row: { key: string }) => row.key === 'chat');
    expect(chat).toMatchObject({
      calls: 1,
      errorRate: 0,
      cacheHitRate: 0,
      latencyP50Ms: 50,
      inputTokens: 12,
      outputTokens: 9,
    });
    expect(chat.unpricedAttempts).toBe(1);
  });

  it('groups by provider/model and by dataset, and honours since', async () => {
    const models = (await get(env.team.viewer, url('by=model'))).json().items;
    expect(
      Object.fromEntries(models.map((row: { key: string; calls: number }) => [row.key, row.calls])),
    ).toEqual({ 'openai/gpt-4o-mini': 5, 'anthropic/claude-x': 1 });
    const datasets = (
      await get(env.team.viewer, url('by=dataset&since=2026-11-01T00:00:00Z'))
    ).json().items;
    expect(
      Object.fromEntries(
        datasets.map((row: { key: string | null; calls: number }) => [String(row.key), row.calls]),
      ),
    ).toEqual({ 'ds-1': 4, null: 1 });
  });

  it('refuses a bad dimension or date naming the field, and hides the project from outsiders', async () => {
    const bad = await get(
      env.team.viewer,
      url(`by=${encodeURIComponent("feature'; drop table llm_calls; --")}`),
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('by');
    const badSince = await get(env.team.viewer, url('since=yesterday'));
    expect(badSince.statusCode).toBe(400);
    expect(badSince.body).toContain('since');
    expect((await get(env.team.outsider, url('by=feature'))).statusCode).toBe(404);
    // The table is still there and whole.
    expect((await get(env.team.viewer, url('by=feature'))).json().items).toHaveLength(3);
  });

  it("shows the project's budgets with their spend rate, read through the LLM module", async () => {
    const budgetsUrl = `/api/projects/${env.team.project.id}/monitor/own-calls/budgets`;
    expect((await get(env.team.viewer, budgetsUrl)).json().items).toEqual([]);
    for (const body of [
      { period: 'total', hardLimitNano: 1_000_000 },
      { period: 'day', softLimitNano: 2_000_000_000 },
    ]) {
      const created = await env.t.app.inject({
        method: 'POST',
        url: `/api/projects/${env.team.project.id}/llm/budgets`,
        headers: env.team.owner.headers,
        payload: body,
      });
      expect(created.statusCode).toBe(201);
    }
    const response = await get(env.team.viewer, budgetsUrl);
    expect(response.statusCode).toBe(200);
    const { asOf, items } = response.json();
    const total = items.find((row: { period: string }) => row.period === 'total');
    // Known costs of this project's calls: 1,000 nano-USD each for four attempts (a cache hit
    // costs 0, unpriced ones nothing); the other project's are not here.
    expect(total).toMatchObject({
      scope: 'project',
      hardLimitUsd: 0.001,
      spentUsd: 4_000 / 1e9,
      periodStart: '1970-01-01T00:00:00.000Z',
      periodEnd: null,
      projectedUsd: null,
      usedShare: 0.004,
    });
    const hours = (Date.parse(asOf) - 0) / 3_600_000;
    expect(total.burnUsdPerHour).toBeCloseTo(4_000 / 1e9 / hours, 15);
    // Today's spend is none (the calls are older): no burn, none projected.
    const day = items.find((row: { period: string }) => row.period === 'day');
    expect(day).toMatchObject({
      hardLimitUsd: null,
      softLimitUsd: 2,
      spentUsd: 0,
      exhaustsAt: null,
    });
    expect(Date.parse(day.periodEnd) - Date.parse(day.periodStart)).toBe(86_400_000);
    expect((await get(env.team.outsider, budgetsUrl)).statusCode).toBe(404);
  });
});

/** A Claude Code transcript of Bash calls: 1 s ok, 2 s failed, 10 s failed, one unanswered. */
function writeToolTranscript(folder: string, sessionId: string): string {
  const at = (seconds: number) => new Date(Date.UTC(2026, 0, 11, 9, 0, seconds)).toISOString();
  const lines: unknown[] = [];
  const use = (n: number, seconds: number) =>
    lines.push({
      type: 'assistant',
      sessionId,
      uuid: `ta${n}`,
      timestamp: at(seconds),
      requestId: `treq_${n}`,
      message: {
        id: `tmsg_${n}`,
        role: 'assistant',
        model: SONNET,
        content: [{ type: 'tool_use', id: `tool_${n}`, name: 'Bash', input: { command: 'make' } }],
        usage: { input_tokens: 1, output_tokens: 1 },
      },
    });
  const result = (n: number, seconds: number, error?: string) =>
    lines.push({
      type: 'user',
      sessionId,
      uuid: `tu${n}`,
      timestamp: at(seconds),
      message: {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: `tool_${n}`,
            content: error ?? 'ok',
            ...(error ? { is_error: true } : {}),
          },
        ],
      },
    });
  use(1, 0);
  result(1, 1);
  use(2, 2);
  result(2, 4, 'Exit code 2');
  use(3, 5);
  result(3, 15, 'Exit code 2');
  use(4, 20);
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${sessionId}.jsonl`);
  writeFileSync(file, `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`);
  return file;
}

describe('tool analytics', () => {
  it('counts calls, failures, durations and top errors per tool, each call once', async () => {
    const root = path.join(dir, 'tools');
    const { projects } = writeClaudeProjects(root);
    const sessionId = '7d0c1f4e-2b1a-4c3d-9e8f-0000000000aa';
    const file = writeToolTranscript(path.join(projects, '-home-dev-tools'), sessionId);
    // The same lines copied into a second file (a resumed session) count once.
    copyFileSync(file, path.join(projects, '-home-dev-tools', 'copy.jsonl'));
    writeOpenCodeStorage(path.join(root, 'opencode'));
    await env.t.app.monitor.importLocalPath(env.team.editor.actor, env.team.project.id, {
      path: root,
      source: 'auto',
    });

    const response = await get(
      env.team.viewer,
      `/api/projects/${env.team.project.id}/monitor/tools`,
    );
    expect(response.statusCode, response.body).toBe(200);
    const byName = Object.fromEntries(
      response.json().items.map((row: { toolName: string }) => [row.toolName, row]),
    );
    expect(byName.Bash).toEqual({
      toolName: 'Bash',
      calls: 4,
      failures: 2,
      failureRate: 0.5,
      unfinished: 1,
      timedCalls: 3,
      durationP50Ms: 2_000,
      durationP95Ms: 9_200,
      topErrors: [{ error: 'Exit code 2', count: 2 }],
    });
    // Claude Code's Task call: from its line (10:00:02) to its result (10:05:00).
    expect(byName.Task).toMatchObject({ calls: 1, failures: 0, durationP50Ms: 298_000 });
    // OpenCode parts carry their own times and status.
    expect(byName.bash).toMatchObject({
      calls: 1,
      failures: 1,
      failureRate: 1,
      durationP50Ms: 1_000,
      topErrors: [{ error: 'exit 1', count: 1 }],
    });
    expect(byName.task).toMatchObject({ calls: 1, failures: 0, durationP50Ms: 190_000 });

    // Importing again changes nothing; another project sees none of it; outsiders get 404.
    await env.t.app.monitor.importLocalPath(env.team.editor.actor, env.team.project.id, {
      path: root,
      source: 'auto',
    });
    const again = await get(env.team.viewer, `/api/projects/${env.team.project.id}/monitor/tools`);
    expect(again.json()).toEqual(response.json());
    expect(
      (await get(other.viewer, `/api/projects/${other.project.id}/monitor/tools`)).json(),
    ).toEqual({
      items: [],
    });
    expect(
      (await get(env.team.outsider, `/api/projects/${env.team.project.id}/monitor/tools`))
        .statusCode,
    ).toBe(404);
    const late = await get(
      env.team.viewer,
      `/api/projects/${env.team.project.id}/monitor/tools?since=2026-01-11T00:00:00Z`,
    );
    expect(late.json().items.map((row: { toolName: string }) => row.toolName)).toEqual(['Bash']);
  });
});

describe('exchanges', () => {
  const sessionId = '5e550000-0000-4000-8000-0000000000e1';
  const at = (minute: number) => new Date(Date.UTC(2026, 0, 12, 9, minute)).toISOString();
  const turn = (uuid: string, minute: number, content: unknown) => ({
    type: 'user',
    sessionId,
    uuid,
    timestamp: at(minute),
    message: { role: 'user', content },
  });
  const reply = (uuid: string, minute: number, id: string, content: unknown[], output: number) => ({
    type: 'assistant',
    sessionId,
    uuid,
    timestamp: at(minute),
    requestId: `req_${id}`,
    message: {
      id,
      role: 'assistant',
      model: SONNET,
      content,
      usage: { input_tokens: 10, output_tokens: output },
    },
  });

  beforeAll(async () => {
    const folder = path.join(dir, 'exchanges', '-home-dev-x');
    mkdirSync(folder, { recursive: true });
    const lines = [
      turn('e1', 0, 'Why does the build fail?'),
      reply('e2', 1, 'x_1', [{ type: 'tool_use', id: 'tu_1', name: 'Bash', input: {} }], 5),
      // A tool result comes back as a user line: not a turn of its own.
      turn('e3', 2, [{ type: 'tool_result', tool_use_id: 'tu_1', content: 'exit 2' }]),
      reply('e4', 3, 'x_2', [{ type: 'text', text: 'A missing import.' }], 7),
      turn('e5', 10, [{ type: 'text', text: 'Fix it' }]),
      reply('e6', 11, 'x_3', [{ type: 'text', text: 'Fixed.' }], 11),
    ];
    writeFileSync(
      path.join(folder, `${sessionId}.jsonl`),
      `${lines.map((line) => JSON.stringify(line)).join('\n')}\n`,
    );
    await env.t.app.monitor.importLocalPath(env.team.editor.actor, env.team.project.id, {
      path: path.join(dir, 'exchanges'),
      source: 'claude-code',
    });
  });

  it('lists each user turn with the calls, tokens and last reply that followed it', async () => {
    const response = await get(
      env.team.viewer,
      `/api/projects/${env.team.project.id}/monitor/sessions/${encodeURIComponent(`cc:${sessionId}`)}/exchanges`,
    );
    expect(response.statusCode).toBe(200);
    const { items } = response.json();
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({
      index: 1,
      at: at(0),
      until: at(10),
      lastReplyAt: at(3),
      prompt: 'Why does the build fail?',
      reply: 'A missing import.',
      toolCalls: 1,
      usageEvents: 2,
      tokens: { input: 20, output: 12, reasoning: 0, cacheRead: 0, cacheWrite: 0 },
    });
    expect(items[1]).toMatchObject({
      index: 2,
      until: null,
      prompt: 'Fix it',
      reply: 'Fixed.',
      toolCalls: 0,
      usageEvents: 1,
      tokens: { input: 10, output: 11 },
    });
    // Sonnet 4.5: $3 / $15 per million input / output tokens.
    expect(items[1].costUsd).toBeCloseTo((10 * 3 + 11 * 15) / 1e6, 12);
  });

  it('answers 404 for a session the project does not have, and to outsiders', async () => {
    const url = (key: string) =>
      `/api/projects/${env.team.project.id}/monitor/sessions/${encodeURIComponent(key)}/exchanges`;
    expect((await get(env.team.viewer, url('cc:no-such-session'))).statusCode).toBe(404);
    expect((await get(env.team.outsider, url(`cc:${sessionId}`))).statusCode).toBe(404);
  });
});
