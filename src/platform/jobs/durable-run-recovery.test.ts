import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test/test-platform.ts';
import { AppError } from '../app-error.ts';
import { createDurableRuns, type RunKind, RunStopped } from './durable-run.ts';
import { durableRunsPerTest, gate } from './durable-run-test-helpers.ts';

/**
 * The engine's contract, on every backend, continued from durable-run.test.ts: crashes, leases,
 * restarts, the job queue and how runs settle.
 */
describe.each(testBackends())('durable runs recover and settle on %s', (backend) => {
  const harness = durableRunsPerTest(backend);
  const { open, countingDb, engine } = harness;

  it('resumes after a crash mid-step: the finished step is not repeated, the interrupted one is', async () => {
    await open();
    const calls: string[] = [];
    const stuck = gate();
    const crashing: RunKind<{ n: number }, unknown> = {
      kind: 'test.crash',
      async execute(context) {
        await context.step('fetch', async () => {
          calls.push('fetch');
          return 'fetched';
        });
        await context.step('write', async () => {
          calls.push('write');
          stuck.open();
          // The worker "dies" here: this promise never settles.
          return new Promise(() => {});
        });
        return 'never';
      },
    };
    const first = engine('worker-1', [crashing]);
    const run = await first.start({ kind: 'test.crash', input: { n: 1 } });
    void first.execute(run.id);
    await stuck.opened;
    expect(await first.get(run.id)).toMatchObject({ status: 'running' });

    // Another process starts (embedded: every running run is an orphan of the old one).
    const second = engine('worker-2', [
      {
        kind: 'test.crash',
        async execute(context) {
          const fetched = await context.step('fetch', async () => {
            calls.push('fetch again');
            return 'refetched';
          });
          const written = await context.step('write', async () => {
            calls.push('write again');
            return 'written';
          });
          return { fetched, written };
        },
      },
    ]);
    expect(await second.recover({ allRunningAreOrphans: true })).toBe(1);
    expect(await second.execute(run.id)).toBe('completed');
    expect(calls).toEqual(['fetch', 'write', 'write again']);
    expect(await second.get(run.id)).toMatchObject({
      result: { fetched: 'fetched', written: 'written' },
      executions: 2,
    });
    expect((await second.steps(run.id)).find((step) => step.key === 'write')).toMatchObject({
      status: 'completed',
      attempts: 2,
    });
  });

  it('lets one of two workers racing for a run execute it; a held lease is not taken until it runs out', async () => {
    await open();
    let executions = 0;
    const release = gate();
    const slow: RunKind<{ n: number }, unknown> = {
      kind: 'test.race',
      async execute() {
        executions++;
        await release.opened;
        return 'ok';
      },
    };
    const a = engine('worker-a', [slow]);
    const b = engine('worker-b', [slow]);
    const run = await a.start({ kind: 'test.race', input: { n: 0 } });
    const outcomes = Promise.all([a.execute(run.id), b.execute(run.id)]);
    // While one holds the lease, recovery on the other does not take it.
    await expect.poll(() => executions).toBe(1);
    expect(await b.recover()).toBe(0);
    expect(await b.execute(run.id)).toBe('skipped');
    release.open();
    expect((await outcomes).sort()).toEqual(['completed', 'skipped']);
    expect(executions).toBe(1);

    // A lease that ran out (its worker stopped heartbeating) is taken over.
    const stuck = gate();
    const never: RunKind<{ n: number }, unknown> = {
      kind: 'test.stall',
      async execute() {
        stuck.open();
        return new Promise(() => {});
      },
    };
    const c = engine('worker-c', [never]);
    const d = engine('worker-d', [{ kind: 'test.stall', execute: async () => 'taken over' }]);
    const stalled = await c.start({ kind: 'test.stall', input: { n: 0 } });
    void c.execute(stalled.id);
    await stuck.opened;
    expect(await d.execute(stalled.id)).toBe('skipped');
    await sql`update durable_run set lease_expires_at = now() - interval '1 minute' where id = ${stalled.id}`.execute(
      harness.platform!.database.db,
    );
    expect(await d.recover()).toBe(1);
    expect(await d.execute(stalled.id)).toBe('completed');
    expect(await d.get(stalled.id)).toMatchObject({ status: 'completed', result: 'taken over' });
  });

  it('a paused run survives a restart and resumes after its last completed step; cancel stops it', async () => {
    await open();
    const calls: string[] = [];
    const kind = (): RunKind<{ n: number }, unknown> => ({
      kind: 'test.pausable',
      async execute(context) {
        for (let index = 0; index < 4; index++) {
          await context.step(`item-${index}`, async () => {
            calls.push(`item-${index}`);
            // The user pauses while the second item is being made.
            if (index === 1 && context.run.executions === 1)
              await runsBefore.requestPause(context.run.id);
            return index;
          });
        }
        return 'all';
      },
    });
    const runsBefore = engine('before-restart', [kind()]);
    const run = await runsBefore.start({ kind: 'test.pausable', input: { n: 0 } });
    expect(await runsBefore.execute(run.id)).toBe('paused');
    expect(await runsBefore.get(run.id)).toMatchObject({ status: 'paused', pauseReason: 'user' });

    // Restart: a new platform on the same storage; the paused run stays paused.
    await harness.platform!.close();
    await open();
    const runsAfter = engine('after-restart', [kind()]);
    expect(await runsAfter.recover({ allRunningAreOrphans: true })).toBe(0);
    expect(await runsAfter.get(run.id)).toMatchObject({ status: 'paused' });
    expect(await runsAfter.execute(run.id)).toBe('skipped');
    await runsAfter.resume(run.id);
    expect(await runsAfter.execute(run.id)).toBe('completed');
    // item-1 was under way when the pause came: it completed (its work was done), so only
    // items 2 and 3 ran after the resume.
    expect(calls).toEqual(['item-0', 'item-1', 'item-2', 'item-3']);

    const cancelled = await runsAfter.start({ kind: 'test.pausable', input: { n: 0 } });
    expect(await runsAfter.requestCancel(cancelled.id)).toMatchObject({ status: 'cancelled' });
    expect(await runsAfter.execute(cancelled.id)).toBe('skipped');
  });

  it('runs through the job queue: start queues a job, a worker executes it', async () => {
    const platform = await open({ jobsEnabled: true });
    const runs = createDurableRuns({
      db: platform.database.db,
      jobs: platform.jobs,
      logger: platform.logger,
    });
    runs.define({
      kind: 'test.queued',
      execute: async (context) => ({ twice: (context.input as { n: number }).n * 2 }),
    });
    await platform.jobs.start();
    const run = await runs.start({ kind: 'test.queued', input: { n: 21 } });
    await expect
      .poll(async () => (await runs.get(run.id))?.status, { timeout: 20_000, interval: 100 })
      .toBe('completed');
    expect(await runs.get(run.id)).toMatchObject({ result: { twice: 42 } });
  });

  it('a run reserved at start is executed by its starter without taking it again; with no free slot it is queued; stop hands back one never executed', async () => {
    // A queue without workers here (as the CLI's): jobs sent wait in it.
    const platform = await open({ jobsEnabled: false });
    const counted = countingDb();
    const calls: string[] = [];
    const runs = createDurableRuns({
      db: counted.db,
      jobs: platform.jobs,
      logger: platform.logger,
      owner: 'starter',
      executesRuns: true,
    });
    runs.define({
      kind: 'test.reserved',
      concurrency: 1,
      async execute(context) {
        for (let index = 1; index <= 3; index++)
          await context.step(`s${index}`, async () => {
            calls.push(`s${index}`);
            return index;
          });
        return 'done';
      },
    });
    await platform.jobs.start();
    const jobsBefore = (await platform.jobs.depth()).find(
      (queue) => queue.name === 'test.reserved',
    );
    const reserved = await runs.start({ kind: 'test.reserved', input: {}, reserve: true });
    expect(reserved).toMatchObject({ status: 'running', executions: 1 });
    expect(counted.statements).toBe(1);
    // No free slot left here for the kind: the next one is queued (with its job).
    const queued = await runs.start({ kind: 'test.reserved', input: {}, reserve: true });
    expect(queued.status).toBe('queued');
    // Another server finds the reserved run held.
    const elsewhere = createDurableRuns({
      db: platform.database.db,
      logger: platform.logger,
      owner: 'elsewhere',
    });
    elsewhere.define({ kind: 'test.reserved', execute: async () => 'not here' });
    expect(await elsewhere.execute(reserved.id)).toBe('skipped');

    counted.statements = 0;
    expect(await runs.execute(reserved.id)).toBe('completed');
    // 3 × (begin + record) and the settle: no statement to take the run.
    expect(counted.statements).toBe(3 * 2 + 1);
    expect(calls).toEqual(['s1', 's2', 's3']);
    expect(await runs.get(reserved.id)).toMatchObject({
      status: 'completed',
      result: 'done',
      executions: 1,
    });
    expect((await runs.steps(reserved.id)).map((step) => [step.key, step.attempts])).toEqual([
      ['s1', 1],
      ['s2', 1],
      ['s3', 1],
    ]);
    const depth = (await platform.jobs.depth()).find((queue) => queue.name === 'test.reserved');
    // One job: the queued run's; none for the reserved one.
    expect((depth?.queued ?? 0) - (jobsBefore?.queued ?? 0)).toBe(1);

    // The slot is free again: reserved, then the process stops before executing it.
    const handedBack = await runs.start({ kind: 'test.reserved', input: {}, reserve: true });
    expect(handedBack.status).toBe('running');
    await runs.stop();
    expect(await runs.get(handedBack.id)).toMatchObject({ status: 'queued' });
    expect(await elsewhere.execute(handedBack.id)).toBe('completed');
  });

  it('a prepared run is inserted by its caller’s statement: reserved for a caller that runs no workers, or nothing when the statement inserts none', async () => {
    await open();
    const runs = engine('caller', [
      {
        kind: 'test.prepared',
        concurrency: 1,
        execute: async (context) => context.step('only', async () => context.input.n * 2),
      },
    ]);
    const db = harness.platform!.database.db;
    /** The caller's statement: inserts the run when `write` is true. */
    const statement = async (prepared: ReturnType<typeof runs.prepare>, write: boolean) =>
      (
        await sql<{ run: Record<string, unknown> | null }>`
          with ok as (select 1 where ${write}::boolean),
          run as (${prepared.insertFrom(sql`ok`)})
          select (select to_jsonb(run) from run) as run`.execute(db)
      ).rows[0]!.run ?? undefined;

    // A process that runs no workers reserves nothing, unless its caller executes the run.
    expect(runs.wouldReserve('test.prepared')).toBe(false);
    expect(runs.wouldReserve('test.prepared', 'caller')).toBe(true);
    const refused = runs.prepare({ kind: 'test.prepared', input: { n: 1 }, reserve: 'caller' });
    expect(refused.reserved).toBe(true);
    // The slot is taken until the caller says how its statement went.
    expect(runs.wouldReserve('test.prepared', 'caller')).toBe(false);
    expect(await refused.started(await statement(refused, false))).toBeUndefined();
    expect(await runs.get(refused.id)).toBeUndefined();
    expect(runs.wouldReserve('test.prepared', 'caller')).toBe(true);

    const prepared = runs.prepare({ kind: 'test.prepared', input: { n: 21 }, reserve: 'caller' });
    const started = await prepared.started(await statement(prepared, true));
    expect(started).toMatchObject({ id: prepared.id, status: 'running', executions: 1 });
    expect(started!.createdAt).toBeInstanceOf(Date);
    // Another process finds it held; its caller executes it without taking it again.
    const elsewhere = engine('elsewhere', [{ kind: 'test.prepared', execute: async () => 0 }]);
    expect(await elsewhere.execute(prepared.id)).toBe('skipped');
    expect(await runs.execute(prepared.id)).toBe('completed');
    expect(await runs.get(prepared.id)).toMatchObject({ status: 'completed', result: 42 });

    // Not reserved: queued, for a worker to take.
    const queued = runs.prepare({ kind: 'test.prepared', input: { n: 2 } });
    expect(queued.reserved).toBe(false);
    expect(await queued.started(await statement(queued, true))).toMatchObject({
      status: 'queued',
      executions: 0,
    });
    expect(await elsewhere.execute(queued.id)).toBe('completed');
  });

  it('a failing step fails the run with its error code; shutdown hands a running run back', async () => {
    await open();
    const runs = engine('w', [
      {
        kind: 'test.fail',
        async execute(context) {
          await context.step('boom', async () => {
            throw new AppError('PROVIDER_ERROR', 'The provider said no');
          });
        },
      },
    ]);
    const failing = await runs.start({ kind: 'test.fail', input: { n: 0 } });
    expect(await runs.execute(failing.id)).toBe('failed');
    expect(await runs.get(failing.id)).toMatchObject({
      status: 'failed',
      error: { code: 'PROVIDER_ERROR', message: 'The provider said no' },
    });
    expect((await runs.steps(failing.id))[0]).toMatchObject({ status: 'failed' });

    const started = gate();
    const stopping = engine('s', [
      {
        kind: 'test.long',
        async execute(context) {
          started.open();
          await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
          context.throwIfStopped();
        },
      },
    ]);
    const long = await stopping.start({ kind: 'test.long', input: { n: 0 } });
    const outcome = stopping.execute(long.id);
    await started.opened;
    await stopping.stop();
    expect(await outcome).toBe('requeued');
    expect(await stopping.get(long.id)).toMatchObject({ status: 'queued' });
  });

  it('tells the kind how each run settled (even one stopped before it began), keeps a kind’s pause reason, resumes a failed run, and takes a given id', async () => {
    await open();
    const settled: string[] = [];
    let fail = true;
    const kinds: RunKind<{ n: number }, unknown>[] = [
      {
        kind: 'test.hooked',
        async execute(context) {
          await context.step('first', async () => 1);
          if (context.input.n === 1) throw new RunStopped('paused', 'budget');
          if (fail) throw new AppError('PROVIDER_ERROR', 'Not yet');
          return 'ok';
        },
        async settled(run, outcome) {
          settled.push(`${run.id}:${run.status}:${outcome}`);
        },
      },
    ];
    const runs = engine('h', kinds);
    const id = '01900000-0000-7000-8000-00000000abcd';
    const given = await runs.start({ kind: 'test.hooked', input: { n: 0 }, id });
    expect(given.id).toBe(id);
    expect(await runs.execute(id)).toBe('failed');
    fail = false;
    expect(await runs.resume(id)).toMatchObject({ status: 'queued', error: null });
    expect(await runs.execute(id)).toBe('completed');
    expect((await runs.steps(id))[0]).toMatchObject({ key: 'first', attempts: 1 });

    const budget = await runs.start({ kind: 'test.hooked', input: { n: 1 } });
    expect(await runs.execute(budget.id)).toBe('paused');
    expect(await runs.get(budget.id)).toMatchObject({ status: 'paused', pauseReason: 'budget' });

    // A running run whose worker died with a cancel asked for: recovered, then settled as
    // cancelled without executing, and the kind hears of it.
    const orphan = await runs.start({ kind: 'test.hooked', input: { n: 2 } });
    await sql`update durable_run set status = 'running', lease_owner = 'dead', lease_expires_at = now() - interval '1 minute', cancel_requested = true where id = ${orphan.id}`.execute(
      harness.platform!.database.db,
    );
    await runs.recover();
    expect(await runs.execute(orphan.id)).toBe('cancelled');
    expect(settled).toEqual([
      `${id}:failed:failed`,
      `${id}:completed:completed`,
      `${budget.id}:paused:paused`,
      `${orphan.id}:cancelled:cancelled`,
    ]);
  });
});
