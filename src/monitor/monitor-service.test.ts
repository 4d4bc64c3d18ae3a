import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { addMember, createProject, createProjectWithMembers } from '../../test/factories.ts';
import { createTestApp } from '../../test/test-platform.ts';
import { importTree, retryDelayMs } from './monitor-import.ts';
import { presentSessionRow } from './monitor-presenter.ts';
import { emptyParsed } from './monitor-records.ts';
import type { MonitorService } from './monitor-service.ts';
import { createMonitorStore } from './monitor-store.ts';
import { monitorTestApp } from './monitor-test-app.ts';
import {
  CLAUDE_EXPLORE_ROW,
  CLAUDE_SESSION,
  OPENCODE_CHILD,
  OPENCODE_ROOT,
  writeClaudeProjects,
  writeOpenCodeDb,
  writeOpenCodeStorage,
} from './monitor-test-helpers.ts';

const env = monitorTestApp('monitor-service-');
const { dir } = env;
let monitor: MonitorService;

beforeAll(() => {
  monitor = env.t.app.monitor;
});

/** Another project of the same owner, viewer and editor. */
async function freshProject() {
  const project = await createProject(env.t, env.team.owner);
  await addMember(env.t, project, env.team.owner, env.team.viewer, 'viewer');
  await addMember(env.t, project, env.team.owner, env.team.editor, 'editor');
  return project.id;
}

const sortRows = <T extends { sessionId: string; agentId: string | null }>(rows: T[]) =>
  [...rows].sort((a, b) =>
    `${a.sessionId}/${a.agentId ?? ''}`.localeCompare(`${b.sessionId}/${b.agentId ?? ''}`),
  );

/** The project's session rows as its viewer gets them, in a stable order. */
const sessionRows = async (projectId: string) =>
  sortRows((await monitor.sessionReport(env.team.viewer.actor, projectId)).map(presentSessionRow));

/** The project's usage events per UTC day, as [day, events]. */
const eventsPerDay = async (projectId: string) =>
  (await monitor.dayReport(env.team.viewer.actor, projectId, 'UTC')).map((row) => [
    row.day,
    row.usageEvents,
  ]);

describe('monitor import: Claude Code', () => {
  const claudeDir = path.join(dir, 'claude');
  let projectId: string;
  let projects: string;
  let mainFile: string;

  beforeAll(async () => {
    ({ projects, mainFile } = writeClaudeProjects(claudeDir));
    projectId = await freshProject();
  });

  it('imports a projects folder: counts, one row per session and sub-agent, hand-counted totals', async () => {
    const result = await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: projects,
      source: 'auto',
    });
    expect({ ...result, failed: undefined, refused: undefined }).toEqual({
      files: 3,
      records: 11 + 3 + 1,
      badLines: 3,
      sessions: 3,
      usageEvents: 3 + 1 + 1,
      unchanged: 0,
      deferred: 0,
      departed: 0,
      failed: undefined,
      refused: undefined,
    });
    const rows = (await monitor.sessionReport(env.team.viewer.actor, projectId)).map(
      presentSessionRow,
    );
    expect(sortRows(rows)).toEqual([
      {
        source: 'claude-code',
        sessionId: CLAUDE_SESSION,
        agentId: null,
        agentType: null,
        parentSessionId: null,
        // Transcript records of the session: lines 1–8, 11 and 12 (not the bad ones).
        records: 10,
        tokens: { input: 22, output: 322, reasoning: 0, cacheRead: 1500, cacheWrite: 300 },
        costUsd: 0.006855,
        costBasis: 'partial',
      },
      CLAUDE_EXPLORE_ROW,
      {
        source: 'claude-code',
        sessionId: CLAUDE_SESSION,
        agentId: 'acompact-9f1e2d',
        agentType: 'compaction',
        parentSessionId: CLAUDE_SESSION,
        records: 1,
        tokens: { input: 1, output: 2, reasoning: 0, cacheRead: 0, cacheWrite: 0 },
        costUsd: 0.000033,
        costBasis: 'computed',
      },
    ]);
  });

  it('importing again changes no total and reads no file', async () => {
    const before = await monitor.sessionReport(env.team.viewer.actor, projectId);
    const again = await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: projects,
      source: 'auto',
    });
    expect(again).toMatchObject({ files: 0, records: 0, usageEvents: 0, unchanged: 3 });
    expect(await monitor.sessionReport(env.team.viewer.actor, projectId)).toEqual(before);
  });

  it('a transcript copied into another file (a resumed session) counts each API call once', async () => {
    const copy = path.join(path.dirname(mainFile), 'copy', `${CLAUDE_SESSION}.jsonl`);
    mkdirSync(path.dirname(copy), { recursive: true });
    const before = await monitor.modelReport(env.team.viewer.actor, projectId);
    writeFileSync(copy, '');
    appendFileSync(
      copy,
      `${JSON.stringify({
        type: 'assistant',
        sessionId: CLAUDE_SESSION,
        requestId: 'req_2',
        timestamp: '2026-01-10T23:30:00.000Z',
        message: {
          id: 'msg_B',
          model: 'claude-sonnet-4-5-20250929',
          usage: {
            input_tokens: 5,
            output_tokens: 20,
            cache_read_input_tokens: 500,
            cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 200 },
          },
        },
      })}\n`,
    );
    await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: projects,
      source: 'auto',
    });
    expect(await monitor.modelReport(env.team.viewer.actor, projectId)).toEqual(before);
    rmSync(path.dirname(copy), { recursive: true });
  });

  it('a file that grows is read from where it stopped; a vanished file keeps its rows, departed', async () => {
    // The partial last line stays broken (now a bad line 13 of invalid JSON); one more call
    // follows. The copy of the previous test is gone: departed.
    appendFileSync(
      mainFile,
      `\n${JSON.stringify({
        type: 'assistant',
        sessionId: CLAUDE_SESSION,
        requestId: 'req_9',
        timestamp: '2026-01-11T08:00:00.000Z',
        message: {
          id: 'msg_Z',
          model: 'claude-sonnet-4-5-20250929',
          usage: { input_tokens: 1000, output_tokens: 0 },
        },
      })}\n`,
    );
    const result = await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: projects,
      source: 'auto',
    });
    // Only the appended lines are read (monitor-tail.test.ts): one new call, one record (the
    // partial line, now a whole line of invalid JSON, is not a record).
    expect(result).toMatchObject({ files: 1, usageEvents: 1, records: 1, departed: 1 });
    const main = (await monitor.sessionReport(env.team.viewer.actor, projectId)).find(
      (row) => row.agentId === null,
    )!;
    expect(main.tokens).toEqual({
      input: 1022,
      output: 322,
      reasoning: 0,
      cacheRead: 1500,
      cacheWrite: 300,
    });
    expect(main.costNano).toBe(6_855_000 + 3_000_000);
    const files = await monitor.files(env.team.viewer.actor, projectId);
    expect(files.find((file) => file.path === mainFile)).toMatchObject({
      status: 'imported',
      badLines: 3,
      badLineSamples: [
        { line: 9, reason: 'invalid JSON' },
        { line: 10, reason: 'unknown record type "hologram"' },
        { line: 13, reason: 'invalid JSON' },
      ],
    });
    expect(files.filter((file) => file.status === 'departed')).toHaveLength(1);
  });

  it('counts days in the time zone asked for', async () => {
    const utc = await monitor.dayReport(env.team.viewer.actor, projectId, 'UTC');
    expect(utc.map((row) => [row.day, row.usageEvents])).toEqual([
      ['2026-01-10', 5],
      ['2026-01-11', 1],
    ]);
    // 23:30 and 23:40 UTC on the 10th are the 11th in Paris; 10:00 stays on the 10th.
    const paris = await monitor.dayReport(env.team.viewer.actor, projectId, 'Europe/Paris');
    expect(paris.map((row) => [row.day, row.usageEvents])).toEqual([
      ['2026-01-10', 3],
      ['2026-01-11', 3],
    ]);
    const day10 = paris[0]!;
    expect(day10.tokens).toEqual({
      input: 14,
      output: 341,
      reasoning: 0,
      cacheRead: 1000,
      cacheWrite: 100,
    });
    await expect(
      monitor.dayReport(env.team.viewer.actor, projectId, 'Mars/Olympus'),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
  });

  it('reports by model with the unpriced model as null cost', async () => {
    const rows = await monitor.modelReport(env.team.viewer.actor, projectId);
    const mystery = rows.find((row) => row.model === 'my-private-model')!;
    expect(mystery).toMatchObject({ costNano: null, unpricedEvents: 1, usageEvents: 1 });
  });

  it("prices a model the catalog does not know with the project's dated price override", async () => {
    const priced = await freshProject();
    const admin = env.t.app.llm.admin;
    // $1 / $2 per Mtok from before the call (23:40); a later, dearer price does not apply to it.
    await admin.createPrice(env.team.owner.actor, priced, {
      model: 'my-private-model',
      inputUsdPerMtok: 1,
      outputUsdPerMtok: 2,
      validFrom: '2026-01-01T00:00:00Z',
    });
    await admin.createPrice(env.team.owner.actor, priced, {
      model: 'my-private-model',
      inputUsdPerMtok: 100,
      outputUsdPerMtok: 200,
      validFrom: '2026-02-01T00:00:00Z',
    });
    await monitor.importLocalPath(env.team.owner.actor, priced, { path: projects, source: 'auto' });
    const rows = await monitor.modelReport(env.team.viewer.actor, priced);
    // 7 input × $1/M + 3 output × $2/M = 13 µ$ = 13,000 nano-USD.
    expect(rows.find((row) => row.model === 'my-private-model')).toMatchObject({
      costNano: 13_000,
      unpricedEvents: 0,
      computedEvents: 1,
    });
    // The catalog's models cost what they cost without overrides.
    const plain = await monitor.modelReport(env.team.viewer.actor, projectId);
    const sonnet = (list: typeof rows) =>
      list.filter((row) => row.model !== 'my-private-model').map((row) => row.costNano);
    expect(sonnet(rows)).toEqual(sonnet(plain));
  });

  it('builds the agent tree of a session with usage rolled up', async () => {
    const detail = await monitor.sessionDetail(
      env.team.viewer.actor,
      projectId,
      `cc:${CLAUDE_SESSION}`,
    );
    expect(detail.tree.children.map((child) => child.row.agentId).sort()).toEqual([
      'aac57f5',
      'acompact-9f1e2d',
    ]);
    expect(detail.tree.rollup.tokens.output).toBe(322 + 40 + 2);
    expect(detail.tree.rollup.unpricedEvents).toBe(1);
    expect(detail.parts.some((part) => part.toolName === 'Task' && part.callId === 'toolu_1')).toBe(
      true,
    );
    // Tokens per step: the session's own calls, each once, adding up to its own totals.
    expect(detail.steps.reduce((sum, step) => sum + step.tokens.output, 0)).toBe(322);
    expect(detail.steps.length).toBe(detail.session.usageEvents);
    const times = detail.steps.map((step) => step.at ?? Number.POSITIVE_INFINITY);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(detail.parts.some((part) => part.type === 'text' && part.text)).toBe(true);
  });

  it('a viewer cannot import; an outsider sees nothing', async () => {
    await expect(
      monitor.importLocalPath(env.team.viewer.actor, projectId, { path: projects, source: 'auto' }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(monitor.sessionReport(env.team.outsider.actor, projectId)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('monitor import: OpenCode', () => {
  it('reads opencode.db: tokens from step-finish parts, child sessions linked with their agent type', async () => {
    const projectId = await freshProject();
    const dataDir = path.join(dir, 'opencode-db');
    writeOpenCodeDb(dataDir);
    const result = await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: dataDir,
      source: 'auto',
    });
    expect(result).toMatchObject({
      files: 1,
      records: 2 + 4 + 5,
      badLines: 0,
      sessions: 2,
      usageEvents: 3 + 1,
    });
    const rows = await sessionRows(projectId);
    expect(rows).toEqual([
      {
        source: 'opencode',
        sessionId: 'ses_child',
        agentId: null,
        agentType: 'general',
        parentSessionId: 'ses_root',
        records: 2,
        tokens: OPENCODE_CHILD,
        costUsd: 0.0123,
        costBasis: 'partial',
      },
      {
        source: 'opencode',
        sessionId: 'ses_root',
        agentId: null,
        agentType: null,
        parentSessionId: null,
        records: 2,
        tokens: OPENCODE_ROOT,
        costUsd: 0.004125,
        costBasis: 'computed',
      },
    ]);
    // Step-finish parts have no time: they take their message's, so days count them.
    expect(await eventsPerDay(projectId)).toEqual([['2026-01-10', 4]]);
    const detail = await monitor.sessionDetail(env.team.viewer.actor, projectId, 'oc:ses_root');
    expect(detail.tree.children[0]!.row.sessionId).toBe('ses_child');
    expect(detail.tree.rollup.tokens.input).toBe(150 + 17);
    expect(detail.parts.find((part) => part.toolName === 'bash')).toMatchObject({
      toolStatus: 'error',
      toolError: 'exit 1',
      toolInput: '{"command":"false"}',
    });
    // Its steps are the two step-finish parts; the message's own (last-step) tokens are not one.
    expect(detail.steps.map((step) => [step.eventKey, step.tokens.output])).toEqual([
      ['oc:prt_1', 40],
      ['oc:prt_2', 60],
    ]);
  });

  it('the legacy storage/ tree gives the same totals, whether imported whole or from storage/', async () => {
    const projectId = await freshProject();
    const storage = writeOpenCodeStorage(path.join(dir, 'opencode-json'));
    const result = await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: storage,
      source: 'opencode',
    });
    expect(result).toMatchObject({
      files: 2 + 4 + 5,
      badLines: 0,
      sessions: 2,
      usageEvents: 3 + 1,
    });
    const rows = await sessionRows(projectId);
    expect(rows.map((row) => [row.sessionId, row.tokens, row.costUsd])).toEqual([
      ['ses_child', OPENCODE_CHILD, 0.0123],
      ['ses_root', OPENCODE_ROOT, 0.004125],
    ]);
    expect(await eventsPerDay(projectId)).toEqual([['2026-01-10', 4]]);
    // Importing the database too (same ids) counts nothing twice.
    writeOpenCodeDb(path.dirname(storage));
    await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: path.dirname(storage),
      source: 'auto',
    });
    const both = await sessionRows(projectId);
    expect(both).toEqual(rows);
  });

  it('a corrupt opencode.db fails with a clear error, keeps counting attempts and is retried', async () => {
    const projectId = await freshProject();
    const bad = path.join(dir, 'opencode-bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(path.join(bad, 'opencode.db'), 'this is not a database, just text '.repeat(200));
    const first = await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: bad,
      source: 'auto',
    });
    expect(first.failed).toEqual([
      {
        path: path.join(bad, 'opencode.db'),
        error: 'the OpenCode database could not be read (corrupt or not SQLite)',
      },
    ]);
    await monitor.importLocalPath(env.team.owner.actor, projectId, { path: bad, source: 'auto' });
    const [file] = await monitor.files(env.team.viewer.actor, projectId);
    expect(file).toMatchObject({ status: 'failed', attempts: 2 });
  });

  it('live cycles retry a failed file that did not change only after its back-off', async () => {
    const projectId = await freshProject();
    const bad = path.join(dir, 'opencode-backoff');
    mkdirSync(bad, { recursive: true });
    writeFileSync(path.join(bad, 'opencode.db'), 'not a database '.repeat(100));
    const store = createMonitorStore(env.t.platform.duckdb);
    const first = await importTree({ store, projectId, root: bad, source: 'auto' });
    expect(first.failed).toHaveLength(1);
    const [failed] = [...(await store.fileStates(projectId)).values()];
    const failedAt = failed!.indexedAtMs!;
    expect(retryDelayMs(1)).toBe(30_000);
    expect(retryDelayMs(2)).toBe(60_000);
    expect(retryDelayMs(20)).toBe(3_600_000);
    /** A live cycle whose clock reads `afterMs` past the failure. */
    const cycleAt = (afterMs: number) =>
      importTree({
        store,
        projectId,
        root: bad,
        source: 'auto',
        failedBackoff: { now: () => failedAt + afterMs },
      });
    // A fake clock: 10 s later it waits; 31 s later it is tried again (and fails again).
    const soon = await cycleAt(10_000);
    expect(soon).toMatchObject({ deferred: 1, failed: [] });
    const later = await cycleAt(31_000);
    expect(later).toMatchObject({
      deferred: 0,
      failed: [expect.objectContaining({ error: expect.any(String) })],
    });
    expect([...(await store.fileStates(projectId)).values()][0]).toMatchObject({ attempts: 2 });
    // Repaired: a changed file is read at once, back-off or not.
    rmSync(path.join(bad, 'opencode.db'));
    writeOpenCodeDb(bad);
    const repaired = await cycleAt(32_000);
    expect(repaired).toMatchObject({ files: 1, usageEvents: 4, failed: [] });
    expect([...(await store.fileStates(projectId)).values()][0]).toMatchObject({
      status: 'imported',
    });
  });

  it('refuses binary files with a reason', async () => {
    const projectId = await freshProject();
    const folder = path.join(dir, 'binary');
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'blob.jsonl'), Buffer.from([0x7b, 0, 1, 2, 3]));
    const result = await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: folder,
      source: 'auto',
    });
    expect(result.refused).toEqual([
      { path: path.join(folder, 'blob.jsonl'), reason: 'binary content (a NUL byte)' },
    ]);
    expect(result.files).toBe(0);
  });
});

describe('monitor store: a batch that fails half-way', () => {
  it('rolls back: the file keeps its previous rows and nothing is counted twice', async () => {
    const projectId = await freshProject();
    const folder = path.join(dir, 'crash');
    const { projects } = writeClaudeProjects(folder);
    await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: projects,
      source: 'claude-code',
    });
    const before = await monitor.modelReport(env.team.viewer.actor, projectId);
    const store = createMonitorStore(env.t.platform.duckdb);
    const states = [...(await store.fileStates(projectId)).values()];
    const state = states[0]!;
    // The second file's usage row cannot be written (a token count that is not a number):
    // the deletes and inserts of the first file, already run, must be undone.
    const usage = {
      source: 'claude-code' as const,
      eventKey: 'cc:x:y',
      fallbackFor: null,
      sessionKey: 'cc:x',
      messageId: 'x',
      ts: null,
      provider: 'anthropic',
      model: 'm',
      input: Number.NaN,
      output: 0,
      reasoning: 0,
      cacheRead: 0,
      cacheWrite: 0,
      cacheWrite1h: 0,
      reportedCostNano: null,
      raw: null,
      sourceRef: 'line:1',
    };
    const parsedEmpty = emptyParsed();
    await expect(
      store.replaceFiles(projectId, [
        { state, parsed: parsedEmpty, prices: [] },
        {
          state: { ...states[1]! },
          parsed: { ...parsedEmpty, usage: [usage] },
          prices: [{ costNano: null, basis: 'unpriced' }],
        },
      ]),
    ).rejects.toThrow();
    expect(await monitor.modelReport(env.team.viewer.actor, projectId)).toEqual(before);
    expect((await store.fileStates(projectId)).size).toBe(3);
  });
});

describe('monitor: repricing when a price override changes', () => {
  const model = <T extends { model: string | null }>(list: T[]) =>
    list.find((row) => row.model === 'my-private-model');

  it('prices again from a date only, writes the totals with the events, and a second run changes nothing', async () => {
    const projectId = await freshProject();
    const { projects } = writeClaudeProjects(path.join(dir, 'reprice-direct'));
    await monitor.importLocalPath(env.team.owner.actor, projectId, {
      path: projects,
      source: 'auto',
    });
    const before = await monitor.modelReport(env.team.viewer.actor, projectId);
    expect(model(before)).toMatchObject({ costNano: null, unpricedEvents: 1 });
    // Set after the import: no job workers here, so the stored event is still unpriced.
    await env.t.app.llm.admin.createPrice(env.team.owner.actor, projectId, {
      model: 'my-private-model',
      inputUsdPerMtok: 1,
      outputUsdPerMtok: 2,
      validFrom: '2026-01-01T00:00:00Z',
    });
    expect(await monitor.modelReport(env.team.viewer.actor, projectId)).toEqual(before);

    // The call was made at 2026-01-10T23:40: repricing from a later date leaves it.
    const later = { model: 'my-private-model', since: new Date('2026-01-11T00:00:00Z') };
    expect(await monitor.repriceModel(env.team.editor.actor, projectId, later)).toEqual({
      events: 0,
      changed: 0,
    });
    const request = { model: 'my-private-model', since: new Date('2026-01-01T00:00:00Z') };
    expect(await monitor.repriceModel(env.team.editor.actor, projectId, request)).toEqual({
      events: 1,
      changed: 1,
    });
    const after = await monitor.modelReport(env.team.viewer.actor, projectId);
    // 7 input × $1/M + 3 output × $2/M = 13,000 nano-USD, as an import after the price reads.
    expect(model(after)).toMatchObject({ costNano: 13_000, unpricedEvents: 0, computedEvents: 1 });
    // Only that model moved; the rollup the reports read agrees with the events.
    const others = (list: typeof after) => list.filter((row) => row.model !== 'my-private-model');
    expect(others(after)).toEqual(others(before));
    const store = createMonitorStore(env.t.platform.duckdb);
    const filter = { projectId, since: undefined };
    expect(await store.modelReport(filter, 'rollup')).toEqual(
      await store.modelReport(filter, 'events'),
    );
    expect(await store.sessionReport(filter, 'rollup')).toEqual(
      await store.sessionReport(filter, 'events'),
    );
    expect(await monitor.repriceModel(env.team.editor.actor, projectId, request)).toEqual({
      events: 1,
      changed: 0,
    });
    await expect(
      monitor.repriceModel(env.team.viewer.actor, projectId, request),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('a price set or removed queues the job that reprices its model (job workers on)', async () => {
    const app = await createTestApp({ config: { jobsEnabled: true } });
    try {
      const members = await createProjectWithMembers(app);
      const projectId = members.project.id;
      const { projects } = writeClaudeProjects(path.join(dir, 'reprice-job'));
      const service = app.app.monitor;
      await service.importLocalPath(members.owner.actor, projectId, {
        path: projects,
        source: 'auto',
      });
      const read = async () => model(await service.modelReport(members.viewer.actor, projectId));
      expect(await read()).toMatchObject({ costNano: null, unpricedEvents: 1 });

      const price = await app.app.llm.admin.createPrice(members.owner.actor, projectId, {
        model: 'my-private-model',
        inputUsdPerMtok: 1,
        outputUsdPerMtok: 2,
        validFrom: '2026-01-01T00:00:00Z',
      });
      expect(
        await eventually(read, (row) => row?.costNano === 13_000, { what: 'the event repriced' }),
      ).toMatchObject({ unpricedEvents: 0, computedEvents: 1 });

      await app.app.llm.admin.deletePrice(members.owner.actor, projectId, price.id);
      expect(
        await eventually(read, (row) => row?.costNano === null, { what: 'the price taken back' }),
      ).toMatchObject({ unpricedEvents: 1, computedEvents: 0 });
    } finally {
      await app.close();
    }
  });
});
