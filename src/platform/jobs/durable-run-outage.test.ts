import { describe, expect, it } from 'vitest';
import { holdThePool } from '../../../test/dry-pool.ts';
import { platformsPerTest } from '../../../test/per-suite.ts';
import { testBackends } from '../../../test/test-platform.ts';
import { createDurableRuns } from './durable-run.ts';

/**
 * Issue #20: the engine's writes met a dry PostgreSQL pool (SERVICE_UNAVAILABLE after the
 * acquire timeout). The settling write (a finished run → `completed`) and its fallback
 * (`failed`) failed, and the run stayed `running` until its lease expired and another server ran
 * it again; a step's checkpoint (its begin, its record) failed the run, whose done work was then
 * redone by the next execution. With a real pool of two connections, both held by the test at
 * that moment, each write waits the outage out and the run ends `completed`, executed once.
 * PGlite has no pool: nothing to run dry there.
 */
for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`a durable run through a dry pool on ${backend}`, () => {
    const platforms = platformsPerTest(backend);
    const openDryPool = () =>
      platforms.open({ jobsEnabled: false, databasePoolSize: 2, databaseAcquireTimeoutMs: 200 });

    it('settling: waits out SERVICE_UNAVAILABLE and records the run completed', async () => {
      const platform = await openDryPool();
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
      await holdThePool(
        platform.database.db,
        2,
        () =>
          failure !== undefined ||
          platform.logs.lines.some(
            (line) => line.msg === 'a durable run waits for the database to settle',
          ),
        letFinish,
      );
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

    it("a step's checkpoints: its record and the next step's begin wait out SERVICE_UNAVAILABLE; no step is failed or done twice", async () => {
      const platform = await openDryPool();
      const runs = createDurableRuns({
        db: platform.database.db,
        logger: platform.logger,
        owner: 'dry-pool-steps',
      });
      const gate = () => Promise.withResolvers<void>();
      const firstEntered = gate();
      const firstFinish = gate();
      const firstRecorded = gate();
      const secondGo = gate();
      const worked: string[] = [];
      runs.define<Record<string, never>, string[]>({
        kind: 'test.dry-pool-steps',
        async execute(context) {
          const first = await context.step('first', async () => {
            worked.push('first');
            firstEntered.resolve();
            await firstFinish.promise;
            return 'one';
          });
          firstRecorded.resolve();
          await secondGo.promise;
          const second = await context.step('second', async () => {
            worked.push('second');
            return 'two';
          });
          return [first, second];
        },
      });
      const run = await runs.start({ kind: 'test.dry-pool-steps', input: {} });
      let failure: unknown;
      const executing = runs.execute(run.id).catch((error: unknown) => {
        failure = error;
      });
      await firstEntered.promise;
      const waited = (what: string) =>
        platform.logs.lines.some(
          (line) =>
            line.msg === 'a durable run waits for the database to checkpoint a step' &&
            line.what === `durable run ${run.id} ${what}`,
        );
      // Before the fix the record failed the run: its settling write (patient) is logged.
      const settling = () =>
        platform.logs.lines.some(
          (line) => line.msg === 'a durable run waits for the database to settle',
        );

      // The first step's work ends while the pool is dry: its record meets it.
      await holdThePool(
        platform.database.db,
        2,
        () => failure !== undefined || waited('step record') || settling(),
        firstFinish.resolve,
      );
      await firstRecorded.promise;
      // The second step begins while the pool is dry.
      await holdThePool(
        platform.database.db,
        2,
        () => failure !== undefined || waited('step begin') || settling(),
        secondGo.resolve,
      );
      expect(await executing).toBe('completed');
      expect(failure).toBeUndefined();
      expect(await runs.get(run.id)).toMatchObject({
        status: 'completed',
        result: ['one', 'two'],
        executions: 1,
      });
      expect(
        (await runs.steps(run.id)).map((step) => [step.key, step.status, step.output]),
      ).toEqual([
        ['first', 'completed', 'one'],
        ['second', 'completed', 'two'],
      ]);
      expect(worked).toEqual(['first', 'second']);
      expect(waited('step record')).toBe(true);
      expect(waited('step begin')).toBe(true);
      await runs.stop();
    });
  });
}
