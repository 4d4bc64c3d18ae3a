import { sql } from 'kysely';
import { describe, expect, it, vi } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { datasetStream } from '../sheet-service.ts';
import type { SheetsModule } from '../sheets-module.ts';
import { generationEnvPerSuite, sheetsOf } from './generation-test-helpers.ts';
import { ROW_ATTEMPTS, type RowFailure } from './rows-run/rows-shape.ts';

// N rows from a description: answers that do not fit, near-duplicates and failures the router
// gave up on are asked again a bounded number of times; rows still not made are reported.
// Two router attempts per call (so a row-level retry is visible) and no circuit breaker
// opening on the failures these tests provoke on purpose.
const env = generationEnvPerSuite({ llm: { maxAttempts: 2, breakerFailures: 1_000 } });

async function generate(name: string, count: number, model: string) {
  const data = await env.dataset(name, ['Name', 'Tagline'], []);
  const events = await (env.t.app as unknown as { sheets: SheetsModule }).sheets.events.subscribe(
    datasetStream(data.id),
  );
  const started = await env.t.app.generation.rows.generateRows(
    env.members.editor.actor,
    env.projectId,
    data.id,
    { description: 'Fictional bookshops in Lisbon', count, provider: env.providerId, model },
  );
  const run = await env.waitForRun(data.id, started.id);
  const window = await sheetsOf(env.t).readWindow(
    env.members.editor.actor,
    env.projectId,
    data.id,
    {
      limit: 1_000,
    },
  );
  // Calls per requested row (its number is in the prompt).
  const calls = new Map<number, number>();
  for (const request of env.fake.requests) {
    const row = Number(/This is row (\d+) of/.exec(JSON.stringify(request.body))?.[1]);
    calls.set(row, (calls.get(row) ?? 0) + 1);
  }
  // Viewers (the runs strip) learn how the run ended from its last event.
  let last: unknown;
  await vi.waitFor(() => {
    const progress = events.take().filter((event) => event.type === 'run-progress');
    last = progress.at(-1)?.data ?? last;
    expect(last).toMatchObject({
      runId: run.id,
      status: run.status,
      done: run.progress.done,
      errors: run.progress.errors,
    });
  });
  events.close();
  return { data, run, rows: window.rows, calls };
}

const failedRows = (run: { error: { details?: unknown } | null }) =>
  (run.error?.details as { failedRows: RowFailure[] } | undefined)?.failedRows ?? [];

describe('generate rows', () => {
  it('asks again when an answer is not valid JSON, up to the bound, and makes every row', async () => {
    const { run, rows, calls } = await generate(
      'Invalid then valid',
      4,
      `gpt-4o-mini@output=${encodeURIComponent('not json')},output-times=${ROW_ATTEMPTS - 1}`,
    );
    expect(run.status).toBe('completed');
    expect(run.progress).toMatchObject({ total: 4, done: 4, errors: 0 });
    expect(run.error).toBeNull();
    expect(rows).toHaveLength(4);
    expect([...calls.entries()].sort()).toEqual([1, 2, 3, 4].map((row) => [row, ROW_ATTEMPTS]));
  });

  it('asks again when the JSON does not fit the columns', async () => {
    const { run, rows, calls } = await generate(
      'Wrong shape',
      3,
      `gpt-4o-mini@output=${encodeURIComponent(JSON.stringify({ Name: 7 }))},output-times=1`,
    );
    expect(run.progress).toMatchObject({ total: 3, done: 3, errors: 0 });
    expect(rows).toHaveLength(3);
    expect([...calls.values()]).toEqual([2, 2, 2]);
  });

  it('does not stack its own retries on the router’s: a 5xx the router gave up on fails the row after one call', async () => {
    // fail-times=3 with two router attempts per call: the one call's two attempts both fail;
    // asking again (as rows runs used to, up to 3 calls) would have made 4 requests.
    const { run, rows, calls } = await generate('Flaky', 1, 'gpt-4o-mini@fail-times=3,status=500');
    expect(run.progress).toMatchObject({ total: 1, done: 0, errors: 1 });
    expect(rows).toHaveLength(0);
    expect(env.fake.requests).toHaveLength(2);
    expect([...calls.values()]).toEqual([2]);
    expect(failedRows(run)[0]).toMatchObject({ row: 1, attempts: 1 });
    expect(failedRows(run)[0]!.reason).toMatch(/^PROVIDER_UNAVAILABLE/);
  });

  it('waits out a 429 storm longer than the router’s retries without spending a row’s attempts: every row made', async () => {
    // 3 rows, two router attempts per call: the first 24 requests (any prompt) answer 429
    // with a 5 ms Retry-After: more than the 3 calls × 2 attempts a row used to get.
    const { run, rows } = await generate(
      'Rate limited',
      3,
      'gpt-4o-mini@fail-times=24,status=429,retry-after=0,retry-after-ms=5,key=rows-storm',
    );
    expect(run.status).toBe('completed');
    expect(run.progress).toMatchObject({ total: 3, done: 3, errors: 0 });
    expect(run.error).toBeNull();
    expect(run.waiting).toBeNull();
    expect(rows).toHaveLength(3);
    const statuses = env.fake.requests.map((request) => request.status);
    expect(statuses.filter((status) => status === 429)).toHaveLength(24);
    expect(statuses.filter((status) => status === 200)).toHaveLength(3);
  });

  it('reports the rows still invalid after the last attempt instead of returning fewer rows', async () => {
    const { run, rows, calls } = await generate(
      'Always invalid',
      3,
      `gpt-4o-mini@output=${encodeURIComponent('not json')}`,
    );
    expect(run.status).toBe('completed');
    expect(run.progress).toMatchObject({ total: 3, done: 0, errors: 3, processed: 3 });
    expect(rows).toHaveLength(0);
    expect([...calls.values()]).toEqual([ROW_ATTEMPTS, ROW_ATTEMPTS, ROW_ATTEMPTS]);
    expect(run.error).toMatchObject({
      code: 'PROVIDER_ERROR',
      message: expect.stringContaining('3 of 3 rows could not be generated'),
    });
    expect(
      failedRows(run)
        .map((failure) => [failure.row, failure.attempts])
        .sort(),
    ).toEqual([
      [1, ROW_ATTEMPTS],
      [2, ROW_ATTEMPTS],
      [3, ROW_ATTEMPTS],
    ]);
    expect(failedRows(run)[0]!.reason).toMatch(/PROVIDER_ERROR|does not fit/);
  });

  it('does not ask again after a failure that would repeat (an unknown model)', async () => {
    const { run, calls } = await generate('Unknown model', 2, 'unknown-model');
    expect(run.progress).toMatchObject({ total: 2, done: 0, errors: 2 });
    expect([...calls.values()]).toEqual([1, 1]);
    expect(failedRows(run).every((failure) => failure.attempts === 1)).toBe(true);
  });

  it('asks a near-duplicate again to differ from the rows it resembled; reports it if it never does', async () => {
    const same = JSON.stringify({ Name: 'Livraria Azul', Tagline: 'Books by the river' });
    const { run, rows, calls } = await generate(
      'Duplicates',
      5,
      `gpt-4o-mini@output=${encodeURIComponent(same)}`,
    );
    expect(run.progress).toMatchObject({ total: 5, done: 1, errors: 4, duplicates: 4 });
    expect(rows).toHaveLength(1);
    expect(failedRows(run)).toHaveLength(4);
    for (const failure of failedRows(run)) {
      expect(failure).toMatchObject({
        attempts: ROW_ATTEMPTS,
        reason: expect.stringMatching(/near-duplicate/),
      });
      expect(calls.get(failure.row)).toBe(ROW_ATTEMPTS);
    }
    // The retries carried the row they resembled.
    const retried = env.fake.requests.filter((request) =>
      JSON.stringify(request.body).includes('Do not repeat or closely resemble'),
    );
    expect(retried).toHaveLength(4 * (ROW_ATTEMPTS - 1));
  });

  it('resumes after its last finished batch (a run_step checkpoint), not from counters a crash lost: never more rows than asked', async () => {
    const count = 40;
    const data = await env.dataset('Resumed rows', ['Name', 'Tagline'], []);
    const actor = env.members.editor.actor;
    const generation = env.t.app.generation;
    const started = await generation.rows.generateRows(actor, env.projectId, data.id, {
      description: 'Fictional bookshops in Porto',
      count,
      provider: env.providerId,
      model: 'gpt-4o-mini@latency=150',
    });
    // Some rows appended (at least one batch checkpointed), then paused.
    await eventually(
      () => generation.runs.getRun(actor, env.projectId, data.id, started.id),
      (run) => run.progress.done >= 4,
      { what: 'a first batch of rows' },
    );
    await generation.runs.pauseRun(actor, env.projectId, data.id, started.id);
    const paused = await env.waitForRun(data.id, started.id, ['paused']);
    const steps = await generation.engine.steps(started.id);
    const batches = steps.filter((step) => step.key.startsWith('batch-'));
    expect(batches.length).toBeGreaterThan(0);
    expect(batches.every((step) => step.status === 'completed')).toBe(true);
    const made = (batches.at(-1)!.output as { done: number }).done;
    expect(made).toBe(paused.progress.done);
    // A crash between a batch's rows and the run's counters: the view says nothing was made.
    await sql`update generation_run set done = 0, errors = 0 where id = ${started.id}`.execute(
      env.t.platform.database.db,
    );
    await generation.runs.resumeRun(actor, env.projectId, data.id, started.id);
    const finished = await env.waitForRun(data.id, started.id, ['completed']);
    expect(finished.progress).toMatchObject({ total: count, done: count, errors: 0 });
    const window = await sheetsOf(env.t).readWindow(actor, env.projectId, data.id, {
      limit: 1_000,
    });
    expect(window.rows).toHaveLength(count);
    // The resumed execution started after the checkpoint: no batch key was written twice.
    const keys = (await generation.engine.steps(started.id)).map((step) => step.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toEqual(keys.map((_, index) => `batch-${index + 1}`));
  });
});
