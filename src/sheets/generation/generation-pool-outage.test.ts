import { describe, expect, it } from 'vitest';
import { holdThePool, patiently } from '../../../test/dry-pool.ts';
import { eventually } from '../../../test/eventually.ts';
import { testBackends } from '../../../test/test-platform.ts';
import {
  type GenerationTestEnv,
  generationEnvPerSuite,
  sheetsOf,
} from './generation-test-helpers.ts';

/** Whether a log line says `message` (for one of `what`, when given). */
function logged(env: GenerationTestEnv, message: string, what?: string[]): boolean {
  return env.t.platform.logs.lines.some(
    (line) => line.msg === message && (what === undefined || what.includes(line.what as string)),
  );
}

/**
 * Issue #20: in shared mode a write or read of an AI-column or generate-rows run that meets a
 * dry PostgreSQL pool (SERVICE_UNAVAILABLE after the acquire timeout, retryable) used to fail
 * the whole run (the committer's failure, a batch's step) or the cell or row (a call whose
 * usage row could not be written). With a real pool of three connections, all held by the test
 * while the run is mid-way, the run waits the outage out and ends with everything made. PGlite
 * has no pool: nothing to run dry there (the committer's retry of a failed batch has its own
 * tests in generation-commit.test.ts).
 */
for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`a run through a dry pool on ${backend}`, () => {
    const env = generationEnvPerSuite({
      backend,
      config: { databasePoolSize: 3, databaseAcquireTimeoutMs: 3_000 },
    });

    it('AI column: waits out SERVICE_UNAVAILABLE and finishes with every cell done, none failed', async () => {
      const n = 48;
      const data = await env.dataset(
        'Dry pool',
        ['Item'],
        Array.from({ length: n }, (_, index) => ({ Item: `item ${index + 1}` })),
      );
      const created = await env.t.app.generation.aiColumns.createAiColumn(
        env.members.owner.actor,
        env.projectId,
        data.id,
        {
          name: 'Out',
          prompt: 'Write about {{Item}}',
          provider: await env.newProvider(8),
          model: 'gpt-4o-mini@latency=30',
        },
      );
      // Mid-way: calls answered and written, more in flight.
      await eventually(() => env.fake.requests.length >= 16);

      // Before the fix no line says a cell write or a call met the dry pool; its run's
      // heartbeat failing three times (3 s held) ends the wait instead.
      const heartbeatFailures = () =>
        env.t.platform.logs.lines.filter((line) => line.msg === 'generation heartbeat failed')
          .length;
      await holdThePool(
        env.t.platform.database.db,
        3,
        () =>
          logged(env, 'generation waits for the database', ['cell writes', 'call']) ||
          logged(env, 'durable run failed') ||
          heartbeatFailures() >= 3,
      );

      const run = await patiently(() => env.waitForRun(data.id, created.run!.id));
      expect(run.status).toBe('completed');
      expect(run.error).toBeNull();
      expect(run.progress).toMatchObject({ done: n, errors: 0, conflicts: 0 });
      const cells = await patiently(() => env.cells(data.id, created.column.id));
      expect(cells.filter((cell) => cell.status !== 'done')).toEqual([]);
      expect(cells).toHaveLength(n);
      // And it did meet the dry pool while writing cells or calling.
      expect(logged(env, 'generation waits for the database', ['cell writes', 'call'])).toBe(true);
      // A liveness bound for a loaded machine, not a speed limit (see waitForRun).
    }, 120_000);

    it('generate rows: waits out SERVICE_UNAVAILABLE and makes every row, none failed', async () => {
      const n = 120;
      const data = await env.dataset('Dry pool rows', ['Name', 'Tagline'], []);
      const started = await env.t.app.generation.rows.generateRows(
        env.members.owner.actor,
        env.projectId,
        data.id,
        {
          description: 'Fictional bookshops in Lisbon',
          count: n,
          provider: await env.newProvider(4),
          model: 'gpt-4o-mini@latency=40',
        },
      );
      const asked = env.fake.requests.length;
      // Mid-way: rows made and appended in batches, more calls in flight.
      await eventually(() => env.fake.requests.length - asked >= 16);

      // Before the fix a batch (its rows, its counters) met the dry pool and failed: its step's
      // failure is written (once the pool answers), the run fails — or, its dataset's lease
      // lapsing meanwhile, is left to be taken over.
      const whats = ['call', 'rows', 'run'];
      const handedOff = () => logged(env, 'dataset lost mid-run; the run is left to be taken over');
      await holdThePool(
        env.t.platform.database.db,
        3,
        () =>
          logged(env, 'generation waits for the database', whats) ||
          logged(env, 'a durable run waits for the database to checkpoint a step', [
            `durable run ${started.id} step failure`,
          ]) ||
          logged(env, 'durable run failed') ||
          handedOff(),
      );

      const run = await patiently(() => env.waitForRun(data.id, started.id));
      expect(run.status).toBe('completed');
      expect(run.error).toBeNull();
      expect(run.progress).toMatchObject({ total: n, done: n, errors: 0 });
      const window = await patiently(() =>
        sheetsOf(env.t).readWindow(env.members.owner.actor, env.projectId, data.id, {
          limit: 1_000,
        }),
      );
      expect(window.rows).toHaveLength(n);
      // And it did meet the dry pool while appending rows, saving counters or calling, and
      // finished here: never failed, never handed off.
      expect(logged(env, 'generation waits for the database', whats)).toBe(true);
      expect(logged(env, 'durable run failed')).toBe(false);
      expect(handedOff()).toBe(false);
    }, 120_000);
  });
}
