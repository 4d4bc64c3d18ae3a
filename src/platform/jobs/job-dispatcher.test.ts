import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { platformsPerTest } from '../../../test/per-suite.ts';
import { testBackends } from '../../../test/test-platform.ts';
import type { Database } from '../db/database.ts';
import { createJobQueue, type JobQueue, READY_PROBE_SQL } from './job-queue.ts';

/** A count that resolves a promise once it reaches a given value. */
function counter() {
  let value = 0;
  const waiters: { at: number; resolve: () => void }[] = [];
  return {
    get value() {
      return value;
    },
    add() {
      value += 1;
      for (const waiter of waiters.filter((entry) => entry.at <= value)) waiter.resolve();
    },
    reached(at: number) {
      return at <= value
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ at, resolve }));
    },
  };
}

/** Records the queue's fetches and its ready probes, in order, once the queue is made. */
function recordPolling(queue: JobQueue) {
  const events: string[] = [];
  const probes = counter();
  const boss = queue.boss;
  const fetch = boss.fetch.bind(boss);
  boss.fetch = ((name: string, options?: object) => {
    events.push(`fetch ${name}`);
    return fetch(name, options);
  }) as typeof boss.fetch;
  const db = boss.getDb();
  const executeSql = db.executeSql.bind(db);
  db.executeSql = (text: string, values?: unknown[]) => {
    if (text === READY_PROBE_SQL) {
      events.push('probe');
      probes.add();
    }
    return executeSql(text, values);
  };
  return { events, probes };
}

describe.each(testBackends())('job fetching on %s', (backend) => {
  const platforms = platformsPerTest(backend);

  let database: Database | undefined;
  async function openQueue(pollingIntervalSeconds: number) {
    const platform = await platforms.open({ jobsEnabled: false });
    database = platform.database;
    return createJobQueue({
      database: platform.database,
      logger: platform.logger,
      work: true,
      pollingIntervalSeconds,
    });
  }

  it('runs at most `concurrency` jobs at once, and the next as soon as a slot frees', async () => {
    // An hour between probes: only sends and freed slots can start these jobs.
    const queue = await openQueue(3_600);
    const started = counter();
    const finished = counter();
    const gates: (() => void)[] = [];
    let running = 0;
    let most = 0;
    queue.register<{ index: number }>({
      name: 'test.limited',
      concurrency: 3,
      handler: async () => {
        running += 1;
        most = Math.max(most, running);
        started.add();
        await new Promise<void>((resolve) => gates.push(resolve));
        running -= 1;
        finished.add();
      },
    });
    await queue.start();
    try {
      for (let index = 0; index < 7; index++) await queue.send('test.limited', { index });
      await started.reached(3);
      expect(await queue.depth()).toEqual([{ name: 'test.limited', queued: 4, active: 3 }]);
      // Each finished job lets exactly one more in.
      gates.shift()!();
      await started.reached(4);
      expect(await queue.depth()).toEqual([{ name: 'test.limited', queued: 3, active: 3 }]);
      while (finished.value < 7) {
        while (gates.length > 0) gates.shift()!();
        await Promise.race([finished.reached(7), started.reached(started.value + 1)]);
      }
      expect(started.value).toBe(7);
      expect(most).toBe(3);
    } finally {
      await queue.stop();
    }
  });

  it('polls an idle server with one probe per interval, whatever the concurrency, and no fetch', async () => {
    const queue = await openQueue(0.2);
    for (const [name, concurrency] of [
      ['test.wide', 8],
      ['test.narrow', 1],
      ['test.middle', 4],
    ] as const) {
      queue.register({ name, concurrency, handler: async () => {} });
    }
    const { events, probes } = recordPolling(queue);
    await queue.start();
    try {
      // The start fetches once per queue (jobs left from before); then only probes.
      await probes.reached(5);
      const afterFirstProbe = events.slice(events.indexOf('probe'));
      expect(afterFirstProbe).toEqual(['probe', 'probe', 'probe', 'probe', 'probe']);
      expect(events.filter((event) => event.startsWith('fetch')).sort()).toEqual([
        'fetch test.middle',
        'fetch test.narrow',
        'fetch test.wide',
      ]);
    } finally {
      await queue.stop();
    }
  });

  it('starts a job whose start time comes while idle at the next probe', async () => {
    const queue = await openQueue(0.2);
    let ran!: (word: string) => void;
    const run = new Promise<string>((resolve) => {
      ran = resolve;
    });
    queue.register<{ word: string }>({
      name: 'test.later',
      concurrency: 4,
      handler: async (job) => ran(job.data.word),
    });
    const { events } = recordPolling(queue);
    await queue.start();
    try {
      // Sent with a start time: no wake-up at send, the probe finds it once due.
      await queue.send('test.later', { word: 'due' }, { startAfter: 1 });
      expect(await run).toBe('due');
      const lastFetch = events.lastIndexOf('fetch test.later');
      expect(events[lastFetch - 1]).toBe('probe');
    } finally {
      await queue.stop();
    }
  });

  it('at stop, waits for running jobs, then fails the ones still running and aborts them', async () => {
    const queue = await openQueue(3_600);
    const started = counter();
    let signal: AbortSignal | undefined;
    queue.register({
      name: 'test.stuck',
      queue: { retryLimit: 0 },
      handler: async (job) => {
        signal = job.signal;
        started.add();
        await new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve()));
      },
    });
    await queue.start();
    const id = await queue.send('test.stuck', {});
    await started.reached(1);
    await queue.stop({ timeoutMs: 100 });
    expect(signal?.aborted).toBe(true);
    // Read through the app's database: on PostgreSQL the queue's own pool is closed by now.
    const { rows } = await sql<{
      state: string;
    }>`select state from pgboss.job where id = ${id}`.execute(database!.db);
    expect(rows).toEqual([{ state: 'failed' }]);
  });
});
