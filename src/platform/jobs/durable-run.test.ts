import { CompiledQuery, sql } from 'kysely';
import { describe, expect, it, vi } from 'vitest';
import { testBackends } from '../../../test/test-platform.ts';
import { AppError } from '../app-error.ts';
import {
  beginStepsStatement,
  createDurableRuns,
  prefixSuccessor,
  type RunKind,
  recordStepsStatement,
  selectSteps,
} from './durable-run.ts';
import { durableRunsPerTest, gate } from './durable-run-test-helpers.ts';

/**
 * The engine's contract, on every backend: what Chat replies and workflows will rely on. Running
 * steps, their statements and the heartbeat here; crashes, leases, restarts, the job queue and
 * settling in durable-run-recovery.test.ts (two files, so that two workers share the time).
 */
describe.each(testBackends())('durable runs on %s', (backend) => {
  const harness = durableRunsPerTest(backend);
  const { open, countingDb, engine } = harness;

  it('runs steps once, counts progress and records the result', async () => {
    await open();
    const calls: string[] = [];
    const runs = engine('a', [
      {
        kind: 'test.sum',
        async execute(context) {
          const one = await context.step('one', async () => {
            calls.push('one');
            return context.input.n + 1;
          });
          context.count({ done: 1 });
          const two = await context.step('two', async () => {
            calls.push('two');
            return one * 2;
          });
          context.count({ done: 1, cost: 5 });
          return { total: two };
        },
      },
    ]);
    const run = await runs.start({ kind: 'test.sum', input: { n: 2 } });
    expect(run.status).toBe('queued');
    expect(await runs.execute(run.id)).toBe('completed');
    expect(await runs.get(run.id)).toMatchObject({
      status: 'completed',
      result: { total: 6 },
      progress: { done: 2, cost: 5 },
      executions: 1,
    });
    expect(calls).toEqual(['one', 'two']);
    // A duplicate job (pg-boss retry, a re-queue) finds it finished.
    expect(await runs.execute(run.id)).toBe('skipped');
    expect(
      (await runs.steps(run.id)).map((step) => [step.key, step.status, step.attempts]),
    ).toEqual([
      ['one', 'completed', 1],
      ['two', 'completed', 1],
    ]);
  });

  it('reads the steps under a key prefix as a range of the primary key: % and _ are plain characters, and the range is exact', async () => {
    await open();
    const keys = [
      'step:a',
      'step:b',
      'step;',
      'step',
      'stepx',
      'a%b/1',
      'a%/2',
      'axb/1',
      'a_b/1',
      'aXb/1',
      'ab',
      'é/1',
      'é',
      'ê',
      '\u{10FFFF}x',
      ...Array.from({ length: 300 }, (_, index) => `extract/doc/${String(index).padStart(4, '0')}`),
    ];
    const runs = engine('p', [
      {
        kind: 'test.keys',
        async execute(context) {
          await Promise.all(
            keys.map((key) => context.step(key, async () => key, { grouped: true })),
          );
          return 'done';
        },
      },
    ]);
    const run = await runs.start({ kind: 'test.keys', input: { n: 0 } });
    expect(await runs.execute(run.id)).toBe('completed');
    const under = async (keyPrefix: string) =>
      (await runs.steps(run.id, { keyPrefix })).map((step) => step.key).sort();
    expect(await under('step:')).toEqual(['step:a', 'step:b']);
    expect(await under('step')).toEqual(['step', 'step:a', 'step:b', 'step;', 'stepx']);
    expect(await under('a%')).toEqual(['a%/2', 'a%b/1']);
    expect(await under('a_')).toEqual(['a_b/1']);
    expect(await under('é')).toEqual(['é', 'é/1']);
    expect(await under('\u{10FFFF}')).toEqual(['\u{10FFFF}x']);
    expect(await under('extract/doc/')).toHaveLength(300);
    expect(await under('nothing')).toEqual([]);
    expect((await runs.steps(run.id, { keyPrefix: '' })).length).toBe(keys.length);
    expect((await runs.steps(run.id)).length).toBe(keys.length);

    // The statement itself: with sequential scans priced out, the plan bounds step_key in the
    // index (before: only run_id, every step of the run read and filtered by left()).
    const query = selectSteps(harness.platform!.database.db, run.id, 'step:').compile();
    const plan = await harness.platform!.database.db.transaction().execute(async (trx) => {
      await sql`set local enable_seqscan = off`.execute(trx);
      const result = await trx.executeQuery<{ 'QUERY PLAN': string }>(
        CompiledQuery.raw(`explain ${query.sql}`, [...query.parameters]),
      );
      return result.rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).not.toMatch(/Seq Scan/);
    expect(plan).toMatch(/Index Cond: .*step_key >= /);
    expect(plan).toMatch(/Index Cond: .*step_key < /);
  });

  it("begins and records a group of steps by primary key, without reading the run's other steps", async () => {
    await open();
    const runs = engine('g', [
      {
        kind: 'test.group',
        async execute(context) {
          await Promise.all(
            ['one', 'two'].map((key) => context.step(key, async () => key, { grouped: true })),
          );
          return 'done';
        },
      },
    ]);
    const run = await runs.start({ kind: 'test.group', input: { n: 0 } });
    expect(await runs.execute(run.id)).toBe('completed');
    const db = harness.platform!.database.db;
    // A long run (an extract step's documents), its statistics known to the planner.
    await sql`
      insert into run_step (run_id, step_key, status)
      select ${run.id}::uuid, 'extract/doc/' || n, 'completed' from generate_series(1, 2000) as n
    `.execute(db);
    await sql`analyze run_step`.execute(db);
    // With sequential scans priced out, each statement's plan: run_step is searched by run and
    // step key (before: by run only, every step of the run read for each group — an extract
    // step's thousand documents made each group's statements as long as the run).
    const plan = (statement: { compile(executor: typeof db): CompiledQuery }) =>
      db.transaction().execute(async (trx) => {
        await sql`set local enable_seqscan = off`.execute(trx);
        const query = statement.compile(db);
        const result = await trx.executeQuery<{ 'QUERY PLAN': string }>(
          CompiledQuery.raw(`explain ${query.sql}`, [...query.parameters]),
        );
        return result.rows.map((row) => row['QUERY PLAN']).join('\n');
      });
    const begin = await plan(
      beginStepsStatement(run.id, 'nobody', [
        { key: 'one', inputHash: null },
        { key: 'three', inputHash: 'h' },
      ]),
    );
    expect(begin).toMatch(/Index Cond: .*run_id = .*step_key = ANY/);
    const record = await plan(
      recordStepsStatement(run.id, 'nobody', [
        { key: 'one', output: 1 },
        { key: 'two', output: null },
      ]),
    );
    expect(record).toMatch(/Index Cond: .*run_id = .*step_key = ANY/);
  });

  it('finds the successor of a prefix in code-point order', () => {
    expect(prefixSuccessor('step:')).toBe('step;');
    expect(prefixSuccessor('a%')).toBe('a&');
    expect(prefixSuccessor('\u{D7FF}')).toBe('\u{E000}');
    expect(prefixSuccessor('ab\u{10FFFF}')).toBe('ac');
    expect(prefixSuccessor('\u{10FFFF}')).toBeUndefined();
    expect(prefixSuccessor('')).toBeUndefined();
  });

  it('costs two statements a step: one to begin it (flags, stored output, marked running), one to record it', async () => {
    await open();
    const counted = countingDb();
    const runs = createDurableRuns({
      db: counted.db,
      logger: harness.platform!.logger,
      owner: 'counted',
    });
    runs.define({
      kind: 'test.three',
      async execute(context) {
        for (let index = 1; index <= 3; index++) await context.step(`s${index}`, async () => index);
        return 'done';
      },
    });
    const run = await runs.start({ kind: 'test.three', input: {} });
    expect(counted.statements).toBe(1);
    counted.statements = 0;
    expect(await runs.execute(run.id)).toBe('completed');
    // Acquire the lease, 3 × (begin + record), settle.
    expect(counted.statements).toBe(1 + 3 * 2 + 1);
    expect((await runs.steps(run.id)).map((step) => [step.key, step.output])).toEqual([
      ['s1', 1],
      ['s2', 2],
      ['s3', 3],
    ]);
  });

  it('in a first execution a step’s work starts while its begin is under way; a resumed run’s waits for it; the marks leave the connection’s commit setting alone', async () => {
    await open();
    const counted = countingDb();
    const seen: [string, number][] = [];
    let failOnce = true;
    const runs = createDurableRuns({
      db: counted.db,
      logger: harness.platform!.logger,
      owner: 'eager',
    });
    runs.define({
      kind: 'test.eager',
      async execute(context) {
        for (const key of ['a', 'b']) {
          const before = counted.statements;
          await context.step(key, async () => {
            // Statements answered since the step was called: 0 while its begin is in flight.
            seen.push([`${key}@${context.run.executions}`, counted.statements - before]);
            if (key === 'b' && failOnce) throw new AppError('PROVIDER_ERROR', 'Not yet');
            return key;
          });
        }
        return 'done';
      },
    });
    const run = await runs.start({ kind: 'test.eager', input: {} });
    expect(await runs.execute(run.id)).toBe('failed');
    failOnce = false;
    await runs.resume(run.id);
    expect(await runs.execute(run.id)).toBe('completed');
    // Resumed: `a` comes back stored (its work not run), `b` runs once its begin answered.
    expect(seen).toEqual([
      ['a@1', 0],
      ['b@1', 0],
      ['b@2', 1],
    ]);
    expect(
      (await runs.steps(run.id)).map((step) => [step.key, step.status, step.attempts]),
    ).toEqual([
      ['a', 'completed', 1],
      ['b', 'completed', 2],
    ]);
    const { rows } = await sql<{
      setting: string;
    }>`select current_setting('synchronous_commit') as setting`.execute(
      harness.platform!.database.db,
    );
    expect(rows[0]?.setting).toBe('on');
  });

  it('begins and records steps run side by side in groups; a resumed run gets their stored outputs back', async () => {
    await open();
    const counted = countingDb();
    const calls: string[] = [];
    let failOnce = true;
    const runs = createDurableRuns({
      db: counted.db,
      logger: harness.platform!.logger,
      owner: 'grouped',
    });
    runs.define({
      kind: 'test.side-by-side',
      async execute(context) {
        const items = await Promise.all(
          Array.from({ length: 10 }, (_, index) =>
            context.step(`item-${index}`, async () => {
              calls.push(`item-${index}`);
              return { index };
            }),
          ),
        );
        await context.step('last', async () => {
          calls.push('last');
          if (failOnce) throw new AppError('PROVIDER_ERROR', 'Not yet');
        });
        return items;
      },
    });
    const run = await runs.start({ kind: 'test.side-by-side', input: {} });
    failOnce = false;
    counted.statements = 0;
    expect(await runs.execute(run.id)).toBe('completed');
    // The first step begins alone, the nine that came meanwhile together; records likewise
    // (at most three groups): far fewer than two statements a step. Then `last`.
    expect(counted.statements).toBeLessThanOrEqual(1 + 2 + 3 + 2 + 1);
    expect((await runs.get(run.id))?.result).toEqual(
      Array.from({ length: 10 }, (_, index) => ({ index })),
    );

    // The step after them fails the run; resumed, the ten come back stored (in groups too),
    // and only the failed step runs again.
    failOnce = true;
    calls.length = 0;
    const again = await runs.start({ kind: 'test.side-by-side', input: {} });
    expect(await runs.execute(again.id)).toBe('failed');
    expect(calls).toHaveLength(11);
    failOnce = false;
    calls.length = 0;
    await runs.resume(again.id);
    expect(await runs.execute(again.id)).toBe('completed');
    expect(calls).toEqual(['last']);
    expect((await runs.get(again.id))?.result).toEqual(
      Array.from({ length: 10 }, (_, index) => ({ index })),
    );
    const steps = await runs.steps(again.id);
    expect(steps.filter((step) => step.status === 'completed')).toHaveLength(11);
    expect(steps.find((step) => step.key === 'last')).toMatchObject({ attempts: 2 });
  });

  it('records a grouped step at once when no other grouped step is under way to share its statement', async () => {
    await open();
    const last = gate();
    /** Linger timers the group commit set while the run's last grouped step was recorded. */
    let lingers = -1;
    const runs = engine('lone', [
      {
        kind: 'test.lone',
        async execute(context) {
          const first = context.step('doc-1', async () => 1, { grouped: true });
          const second = context.step(
            'doc-2',
            async () => {
              await last.opened;
              return 2;
            },
            { grouped: true },
          );
          // doc-1's record may wait for company: doc-2 is under way.
          await first;
          const original = globalThis.setTimeout;
          let fromGroups = 0;
          const setTimer = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((
            ...args: Parameters<typeof setTimeout>
          ) => {
            // A timer grouped.ts sets itself (its linger), not one a driver sets while a group
            // is sent through it (pg-pool's acquire timeout has grouped.ts further down).
            const caller = (new Error().stack ?? '')
              .split('\n')
              .slice(1)
              .find(
                (frame) =>
                  !/durable-run\.test\.ts|node_modules\/(vitest|@vitest|tinyspy)\//.test(frame),
              );
            if (caller && /platform\/grouped\.ts/.test(caller)) fromGroups++;
            return original(...args);
          }) as typeof setTimeout);
          try {
            last.open();
            await second;
            lingers = fromGroups;
          } finally {
            setTimer.mockRestore();
          }
          return [await first, await second];
        },
      },
    ]);
    const run = await runs.start({ kind: 'test.lone', input: {} });
    expect(await runs.execute(run.id)).toBe('completed');
    expect((await runs.get(run.id))?.result).toEqual([1, 2]);
    expect(lingers).toBe(0);
  });

  it('one heartbeat for every run executing here saves their counters and stops runs another server cancelled or paused', async () => {
    await open();
    const bothStarted = gate();
    let begun = 0;
    const waiting: RunKind<{ n: number }, unknown> = {
      kind: 'test.beating',
      async execute(context) {
        context.count({ seen: context.input.n });
        if (++begun === 2) bothStarted.open();
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
        context.throwIfStopped();
      },
    };
    const here = createDurableRuns({
      db: harness.platform!.database.db,
      logger: harness.platform!.logger,
      owner: 'here',
      heartbeatMs: 5,
    });
    here.define(waiting);
    // Another server: asking it to stop a run it does not execute only sets the run's flag.
    const elsewhere = engine('elsewhere', [waiting]);
    const a = await here.start({ kind: 'test.beating', input: { n: 1 } });
    const b = await here.start({ kind: 'test.beating', input: { n: 2 } });
    const outcomes = Promise.all([here.execute(a.id), here.execute(b.id)]);
    await bothStarted.opened;
    await expect
      .poll(async () => (await elsewhere.get(b.id))?.progress, { timeout: 10_000 })
      .toEqual({ seen: 2 });
    await elsewhere.requestCancel(a.id);
    await elsewhere.requestPause(b.id);
    expect(await outcomes).toEqual(['cancelled', 'paused']);
    expect(await elsewhere.get(a.id)).toMatchObject({ status: 'cancelled', progress: { seen: 1 } });
    expect(await elsewhere.get(b.id)).toMatchObject({ status: 'paused', pauseReason: 'user' });
  });
});
