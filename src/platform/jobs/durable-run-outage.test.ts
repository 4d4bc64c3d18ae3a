import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { platformsPerTest } from '../../../test/per-suite.ts';
import { testBackends } from '../../../test/test-platform.ts';
import { isAppError } from '../app-error.ts';
import { createDurableRuns } from './durable-run.ts';

/**
 * Issue #20: the engine's settling write (a finished run → `completed`) met a dry PostgreSQL
 * pool (SERVICE_UNAVAILABLE after the acquire timeout), its fallback write (`failed`) met it
 * too, and the run stayed `running` until its lease expired and another server ran it again.
 * With a real pool of two connections, both held by the test when the run finishes, the
 * settling write waits the outage out and the run ends `completed`, executed once. PGlite has
 * no pool: nothing to run dry there.
 */
for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`a durable run settling through a dry pool on ${backend}`, () => {
    const platforms = platformsPerTest(backend);

    it('waits out SERVICE_UNAVAILABLE and records the run completed', async () => {
      const platform = await platforms.open({
        jobsEnabled: false,
        databasePoolSize: 2,
        databaseAcquireTimeoutMs: 200,
      });
      const { promise: finish, resolve: letFinish } = Promise.withResolvers<void>();
      const { promise: inside, resolve: entered } = Promise.withResolvers<void>();
      const runs = createDurableRuns({
        db: platform.database.db,
        logger: platform.logger,
        owner: 'dry-pool',
      });
      let executions = 0;
      runs.define<{ n: number }, { n: number }>({
        kind: 'test.dry-pool',
        async execute(context) {
          executions++;
          entered();
          await finish;
          return { n: context.input.n };
        },
      });
      const run = await runs.start({ kind: 'test.dry-pool', input: { n: 7 } });
      const executing = runs.execute(run.id);
      await inside;

      // The test takes both connections and keeps them until the settling write has met the
      // dry pool (its wait is logged) — or, as before the fix, the execution has failed.
      const { promise: released, resolve: release } = Promise.withResolvers<void>();
      let held = 0;
      const hold = async () => {
        while (true) {
          try {
            return await platform.database.db.connection().execute(async (connection) => {
              await sql`select 1`.execute(connection);
              held++;
              await released;
            });
          } catch (error) {
            if (!isAppError(error) || error.code !== 'SERVICE_UNAVAILABLE') throw error;
          }
        }
      };
      const holding = [hold(), hold()];
      let outcome: string | undefined;
      let failure: unknown;
      void executing.then(
        (value) => {
          outcome = value;
        },
        (error: unknown) => {
          failure = error;
        },
      );
      try {
        await eventually(() => held === 2);
        letFinish();
        await eventually(
          () =>
            failure !== undefined ||
            platform.logs.lines.some(
              (line) => line.msg === 'a durable run waits for the database to settle',
            ),
          Boolean,
          { what: 'the settling write meets the dry pool' },
        );
      } finally {
        release();
        await Promise.all(holding);
      }
      await executing.catch(() => {});
      expect(failure).toBeUndefined();
      expect(outcome).toBe('completed');
      expect(await runs.get(run.id)).toMatchObject({
        status: 'completed',
        result: { n: 7 },
        executions: 1,
      });
      expect(executions).toBe(1);
      await runs.stop();
    });
  });
}
