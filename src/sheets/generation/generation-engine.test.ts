import { beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { datasetStream } from '../sheet-service.ts';
import type { SheetsModule } from '../sheets-module.ts';
import {
  generationEnvPerSuite,
  peakOverlap,
  SkippingClock,
  sheetsOf,
} from './generation-test-helpers.ts';

// The scheduler, cancel, pause and concurrent edits, against the fake LLM server.
const CONCURRENCY = 32;
// Retries' backoff and Retry-After pauses are skipped, not slept (SkippingClock): the 429 storms
// below cost the same CPU on a quiet or a loaded machine.
const clock = new SkippingClock();
const env = generationEnvPerSuite({
  generation: { concurrency: CONCURRENCY },
  features: { llm: { clock } },
});
beforeEach(() => {
  env.t.platform.config.generation.concurrency = CONCURRENCY;
});

const aiColumns = () => env.t.app.generation.aiColumns;
const runs = () => env.t.app.generation.runs;
const owner = () => env.members.owner.actor;
const rows = (n: number) =>
  Array.from({ length: n }, (_, index) => ({ Item: `item ${index + 1}` }));

async function aiColumn(datasetId: string, model: string, name = 'Out', extra: object = {}) {
  return aiColumns().createAiColumn(owner(), env.projectId, datasetId, {
    name,
    prompt: 'Write about {{Item}}',
    // Each test gets a provider of its own: its own adaptive limiter, untouched by the 429s
    // of another test.
    provider: await env.newProvider(),
    model,
    ...extra,
  });
}

/** Waits (on the shared `eventually` helper) until `check` holds. */
const waitUntil = (check: () => Promise<boolean> | boolean) => eventually(check);

describe('generation engine', () => {
  it('keeps the window full: C calls in flight at once, never more, every cell done', async () => {
    // How close N cells at latency L come to N·L/C is a throughput figure, measured in
    // bench/generation-concurrency.bench.ts (ratio against N·L/C), not bounded here by a clock.
    const n = 256;
    const concurrency = 16;
    env.t.platform.config.generation.concurrency = concurrency;
    const data = await env.dataset('Throughput', ['Item'], rows(n));
    const created = await aiColumn(data.id, 'gpt-4o-mini@latency=400');
    const run = await env.waitForRun(data.id, created.run!.id);
    expect(run.progress).toMatchObject({ done: n, errors: 0 });
    // L is the latency of a call as the run sees it (each cell records it): the fake
    // server's 400 ms plus the LLM module's own work.
    const cells = await env.cells(data.id, created.column.id);
    const latencies = cells.map((cell) => cell.latencyMs ?? 0);
    const meanLatency = latencies.reduce((sum, value) => sum + value, 0) / n;
    expect(meanLatency).toBeGreaterThanOrEqual(400);
    // The window reached C calls at the server (no batch of fewer) and never went above it.
    expect(peakOverlap(env.fake.requests)).toBe(concurrency);
    expect(env.fake.requests).toHaveLength(n);
  });

  it('rides out a 429 storm with backoff: every cell done, none lost', async () => {
    const n = 40;
    const data = await env.dataset('Storm', ['Item'], rows(n));
    // Every prompt is refused twice with 429 before it is answered.
    const created = await aiColumn(data.id, 'gpt-4o-mini@fail-times=2,status=429,retry-after=0');
    const run = await env.waitForRun(data.id, created.run!.id);
    expect(run.status).toBe('completed');
    expect(run.progress).toMatchObject({ total: n, done: n, errors: 0 });
    const statuses = env.fake.requests.map((request) => request.status);
    expect(statuses.filter((status) => status === 429)).toHaveLength(2 * n);
    expect(statuses.filter((status) => status === 200)).toHaveLength(n);
    const cells = await env.cells(data.id, created.column.id);
    expect(cells.every((cell) => cell.status === 'done' && cell.attempts === 3)).toBe(true);
  });

  it('a 429 storm longer than the router’s retries pauses the run, which resumes by itself: every cell done, no attempt spent', async () => {
    const n = 100;
    const data = await env.dataset('Long storm', ['Item'], rows(n));
    const stream = await (env.t.app as unknown as { sheets: SheetsModule }).sheets.events.subscribe(
      datasetStream(data.id),
      {
        bufferLimit: 100_000,
      },
    );
    // The provider answers 429 to its first 300 requests (3 per row: more than the router retries), whatever the prompt (one key), with
    // a Retry-After of 5 ms: every call of the first rounds exhausts the router's 3 attempts.
    const created = await aiColumn(
      data.id,
      'gpt-4o-mini@fail-times=300,status=429,retry-after=0,retry-after-ms=5,key=long-storm',
    );
    const run = await env.waitForRun(data.id, created.run!.id);
    expect(run.status).toBe('completed');
    expect(run.outcome).toBe('done');
    expect(run.progress).toMatchObject({ total: n, done: n, errors: 0 });
    expect(run.error).toBeNull();
    expect(run.waiting).toBeNull();
    const statuses = env.fake.requests.map((request) => request.status);
    expect(statuses.filter((status) => status === 429)).toHaveLength(300);
    expect(statuses.filter((status) => status === 200)).toHaveLength(n);
    const cells = await env.cells(data.id, created.column.id);
    expect(cells.filter((cell) => cell.status !== 'done')).toEqual([]);
    // A cell handed back while the run waited kept nothing of the refused calls: its attempts
    // are those of the call that answered (at most the router's 3).
    expect(cells.every((cell) => (cell.attempts ?? 0) >= 1 && (cell.attempts ?? 0) <= 3)).toBe(
      true,
    );
    // While it waited, viewers were told why and until when.
    const waits = stream
      .take()
      .filter((event) => event.type === 'run-progress')
      .map(
        (event) =>
          (event.data as { waiting?: { message: string; until: string } | null }).waiting ?? null,
      )
      .filter((waiting) => waiting !== null);
    stream.close();
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]).toMatchObject({ reason: 'rate-limited', provider: expect.any(String) });
    expect(waits[0]!.message).toMatch(/^Rate limited by fake .*, retrying at \d\d:\d\d:\d\d UTC/);
    expect(Number.isNaN(Date.parse(waits[0]!.until))).toBe(false);
    // The test's own bound is waitForRun's 2-minute liveness bound, not the suite's 30 s: the
    // run took 2.8 s alone, 12.6 s in a fresh-clone CI with both suites running, and once
    // (2026-12-07) more than 30 s there, sleeping 300 short back-offs one after another; the
    // file's SkippingClock now skips them (5.6 s CPU, 4.0 s wall at load 7.8).
  }, 150_000);

  it('a run whose calls failed ends "Finished with N errors" (not done), naming the provider and its own message; retrying the errors fixes them', async () => {
    const data = await env.dataset('Failing', ['Item'], rows(6));
    // Rows 1–3 are refused (400, final); the others answer.
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Out',
      prompt: 'Write about {{Item}}',
      provider: await env.newProvider(),
      model: 'gpt-4o-mini@fail-times=1,status=400',
      run: false,
    });
    const first = await runs().startRun(owner(), env.projectId, data.id, created.column.id, {
      mode: 'range',
      range: { from: 1, to: 3 },
    });
    const failed = await env.waitForRun(data.id, first.id);
    expect(failed.status).toBe('completed');
    expect(failed.outcome).toBe('errors');
    expect(failed.progress).toMatchObject({ total: 3, done: 0, errors: 3 });
    expect(failed.error).toMatchObject({ code: 'PROVIDER_ERROR', details: { errors: 3 } });
    expect(failed.error!.message).toMatch(/^Finished with 3 errors; last: PROVIDER_ERROR: /);
    // The provider's name and its own words, not only our summary.
    expect(failed.error!.message).toMatch(/\(fake \w+ 400: .+\)/);
    const cells = await env.cells(data.id, created.column.id);
    expect(cells[0]!.status).toBe('error');
    expect(cells[0]!.error).toMatch(/\(fake \w+ 400: .+\)/);

    // "Retry errors": the failed cells again (the fake now answers them).
    const retry = await runs().startRun(owner(), env.projectId, data.id, created.column.id, {
      mode: 'errors',
    });
    const retried = await env.waitForRun(data.id, retry.id);
    expect(retried).toMatchObject({ status: 'completed', outcome: 'done', error: null });
    expect(retried.progress).toMatchObject({ total: 3, done: 3, errors: 0 });
  });

  it('the window is the provider cap the person set, and a cap raised mid-run applies to it', async () => {
    const data = await env.dataset('Cap', ['Item'], rows(400));
    const providerId = await env.newProvider(8);
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Out',
      prompt: 'Write about {{Item}}',
      provider: providerId,
      model: 'gpt-4o-mini@latency=300',
    });
    const runId = created.run!.id;
    const live = () => runs().getRun(owner(), env.projectId, data.id, runId);
    await waitUntil(() => env.fake.inFlight() === 8);
    await waitUntil(async () => (await live()).concurrency !== null);
    expect((await live()).concurrency).toMatchObject({
      window: 8,
      serverCap: CONCURRENCY,
      providerCap: 8,
      limitedBy: 'provider',
    });
    let most = 0;
    const watch = setInterval(() => {
      most = Math.max(most, env.fake.inFlight());
    }, 5);
    try {
      await env.t.app.llm.admin.updateProvider(owner(), env.projectId, providerId, {
        maxConcurrency: 24,
      });
      // Within a heartbeat the run widens its window, and the provider's limiter lets it.
      await waitUntil(() => env.fake.inFlight() === 24);
      expect((await live()).concurrency).toMatchObject({ window: 24, providerCap: 24 });
      // Above the server's ceiling the ceiling applies, and the run says so.
      await env.t.app.llm.admin.updateProvider(owner(), env.projectId, providerId, {
        maxConcurrency: 500,
      });
      await waitUntil(async () => (await live()).concurrency?.limitedBy === 'server');
      expect((await live()).concurrency).toMatchObject({ window: CONCURRENCY, providerCap: 500 });
    } finally {
      clearInterval(watch);
      await runs().cancelRun(owner(), env.projectId, data.id, runId);
      await env.waitForRun(data.id, runId, ['cancelled']);
    }
    expect(most).toBeLessThanOrEqual(CONCURRENCY);
  });

  it('cancel aborts the calls in flight (the server sees it) and leaves no cell generating', async () => {
    const n = 50;
    const data = await env.dataset('Cancel', ['Item'], rows(n));
    const created = await aiColumn(data.id, 'gpt-4o-mini@latency=5000');
    await waitUntil(() => env.fake.inFlight() === CONCURRENCY);
    await waitUntil(async () =>
      (await env.cells(data.id, created.column.id)).some((cell) => cell.status === 'generating'),
    );
    await runs().cancelRun(owner(), env.projectId, data.id, created.run!.id);
    const run = await env.waitForRun(data.id, created.run!.id, ['cancelled']);
    expect(run.progress.done).toBe(0);
    await waitUntil(
      () => env.fake.requests.filter((request) => request.aborted).length === CONCURRENCY,
    );
    const cells = await env.cells(data.id, created.column.id);
    expect(cells.filter((cell) => cell.status === 'generating')).toEqual([]);
    expect(cells.every((cell) => cell.status === 'pending' && cell.value === null)).toBe(true);
    expect(env.fake.requests).toHaveLength(CONCURRENCY);
  });

  it('pause stops and restores, resume finishes the rest without redoing any cell', async () => {
    const n = 96;
    env.t.platform.config.generation.concurrency = 8;
    const data = await env.dataset('Pause', ['Item'], rows(n));
    const created = await aiColumn(data.id, 'gpt-4o-mini@latency=300');
    const runId = created.run!.id;
    await waitUntil(
      async () => (await runs().getRun(owner(), env.projectId, data.id, runId)).progress.done >= 20,
    );
    await runs().pauseRun(owner(), env.projectId, data.id, runId);
    const paused = await env.waitForRun(data.id, runId, ['paused']);
    expect(paused.pauseReason).toBe('user');
    const atPause = await env.cells(data.id, created.column.id);
    expect(atPause.some((cell) => cell.status === 'generating')).toBe(false);
    const doneAtPause = atPause.filter((cell) => cell.status === 'done').length;
    expect(doneAtPause).toBe(paused.progress.done);
    const requestsAtPause = env.fake.requests.length;
    await runs().resumeRun(owner(), env.projectId, data.id, runId);
    const finished = await env.waitForRun(data.id, runId, ['completed']);
    expect(finished.progress).toMatchObject({ total: n, done: n });
    // Only the cells not done at the pause were asked for again (the aborted ones included).
    expect(env.fake.requests.length - requestsAtPause).toBe(n - doneAtPause);
    const cells = await env.cells(data.id, created.column.id);
    expect(cells.every((cell) => cell.status === 'done')).toBe(true);
  });

  it('a user edit made while the call is in flight wins; the late result is dropped and counted', async () => {
    const data = await env.dataset('Edit', ['Item'], rows(3));
    const created = await aiColumn(data.id, 'gpt-4o-mini@latency=1000');
    const columnId = created.column.id;
    let target: { rowId: string; version: number } | undefined;
    await waitUntil(async () => {
      const cells = await env.cells(data.id, columnId);
      const cell = cells.find(
        (candidate) => candidate.rowId === data.rowIds[1] && candidate.status === 'generating',
      );
      if (cell) target = { rowId: cell.rowId, version: cell.version };
      return cell !== undefined;
    });
    await sheetsOf(env.t).editCell(owner(), env.projectId, data.id, {
      rowId: BigInt(target!.rowId),
      columnId,
      expectedVersion: target!.version,
      value: 'typed by the user',
    });
    const run = await env.waitForRun(data.id, created.run!.id);
    expect(run.progress).toMatchObject({ done: 2, conflicts: 1, errors: 0 });
    const cells = await env.cells(data.id, columnId);
    const edited = cells.find((cell) => cell.rowId === target!.rowId)!;
    expect(edited).toMatchObject({ value: 'typed by the user', status: 'done', validated: true });
  });
});
