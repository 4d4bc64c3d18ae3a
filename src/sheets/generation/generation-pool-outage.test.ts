import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { testBackends } from '../../../test/test-platform.ts';
import { isAppError } from '../../platform/app-error.ts';
import { generationEnvPerSuite } from './generation-test-helpers.ts';

/**
 * Issue #20: in shared mode a write or read of an AI-column run that meets a dry PostgreSQL
 * pool (SERVICE_UNAVAILABLE after the acquire timeout, retryable) used to fail the whole run
 * (the committer's failure) or the cell (a call whose usage row could not be written). With a
 * real pool of three connections, all held by the test while the run is mid-way, the run waits
 * the outage out and ends with every cell done. PGlite has no pool: nothing to run dry there
 * (the committer's retry of a failed batch has its own tests in generation-commit.test.ts).
 */
for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`an AI-column run through a dry pool on ${backend}`, () => {
    const env = generationEnvPerSuite({
      backend,
      config: { databasePoolSize: 3, databaseAcquireTimeoutMs: 3_000 },
    });

    it('waits out SERVICE_UNAVAILABLE and finishes with every cell done, none failed', async () => {
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

      // The test takes every connection of the pool and keeps them until the run has met the
      // dry pool (its waits are logged), or — as before the fix — failed.
      const { promise: released, resolve: release } = Promise.withResolvers<void>();
      let held = 0;
      // The test's own work shares the small pool with the run: a 503 (the run took the
      // connection first and kept it past the acquire timeout) is tried again, as a client would.
      const patiently = async <T>(read: () => Promise<T>): Promise<T> => {
        while (true) {
          try {
            return await read();
          } catch (error) {
            if (!isAppError(error) || error.code !== 'SERVICE_UNAVAILABLE') throw error;
          }
        }
      };
      const hold = () =>
        patiently(() =>
          env.t.platform.database.db.connection().execute(async (connection) => {
            await sql`select 1`.execute(connection);
            held++;
            await released;
          }),
        );
      const logged = (message: string, what?: string[]) =>
        env.t.platform.logs.lines.some(
          (line) =>
            line.msg === message && (what === undefined || what.includes(line.what as string)),
        );
      const holding = [hold(), hold(), hold()];
      try {
        await eventually(() => held === 3);
        // Before the fix no line says a cell write or a call met the dry pool; its run's
        // heartbeat failing three times (3 s held) ends the wait instead.
        const heartbeatFailures = () =>
          env.t.platform.logs.lines.filter((line) => line.msg === 'generation heartbeat failed')
            .length;
        await eventually(
          () =>
            logged('generation waits for the database', ['cell writes', 'call']) ||
            logged('durable run failed') ||
            heartbeatFailures() >= 3,
        );
      } finally {
        release();
        await Promise.all(holding);
      }

      const run = await patiently(() => env.waitForRun(data.id, created.run!.id));
      expect(run.status).toBe('completed');
      expect(run.error).toBeNull();
      expect(run.progress).toMatchObject({ done: n, errors: 0, conflicts: 0 });
      const cells = await patiently(() => env.cells(data.id, created.column.id));
      expect(cells.filter((cell) => cell.status !== 'done')).toEqual([]);
      expect(cells).toHaveLength(n);
      // And it did meet the dry pool while writing cells or calling.
      expect(logged('generation waits for the database', ['cell writes', 'call'])).toBe(true);
      // A liveness bound for a loaded machine, not a speed limit (see waitForRun).
    }, 120_000);
  });
}
