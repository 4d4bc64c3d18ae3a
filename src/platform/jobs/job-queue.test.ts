import { describe, expect, it } from 'vitest';
import { platformsPerTest } from '../../../test/per-suite.ts';
import { testBackends } from '../../../test/test-platform.ts';
import { openDatabase } from '../db/database.ts';
import { createJobQueue } from './job-queue.ts';

describe.each(testBackends())('job queue on %s', (backend) => {
  const platforms = platformsPerTest(backend);

  it('runs a job queued before a restart after the restart', async () => {
    const ran: string[] = [];
    const handler = async (job: { data: { word: string } }) => {
      ran.push(job.data.word);
    };

    // First life: the queue accepts the job, but no worker runs in this process.
    let platform = await platforms.open({ jobsEnabled: false });
    platform.jobs.register({ name: 'test.echo', handler });
    await platform.jobs.start();
    await platform.jobs.send('test.echo', { word: 'survivor' });
    expect(await platform.jobs.depth()).toEqual([{ name: 'test.echo', queued: 1, active: 0 }]);
    await platform.close();
    expect(ran).toEqual([]);

    // Second life on the same storage: a worker picks the job up.
    platform = await platforms.open({ jobsEnabled: true });
    platform.jobs.register({ name: 'test.echo', handler });
    await platform.jobs.start();
    await expect.poll(() => ran, { timeout: 15_000, interval: 100 }).toEqual(['survivor']);
  });

  it('wakes its own worker when a job is sent, instead of waiting out the polling interval', async () => {
    const platform = await platforms.open({ jobsEnabled: false });
    // An hour between polls: only the wake-up can make the worker take the job in this test.
    const queue = createJobQueue({
      database: platform.database,
      logger: platform.logger,
      work: true,
      pollingIntervalSeconds: 3_600,
    });
    const ran: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    queue.register<{ word: string }>({
      name: 'test.wake',
      handler: async (job) => {
        ran.push(job.data.word);
        done();
      },
    });
    await queue.start();
    try {
      await queue.send('test.wake', { word: 'now' });
      await finished;
      expect(ran).toEqual(['now']);
    } finally {
      await queue.stop();
    }
  });

  it('keeps one waiting job per singletonKey, however often and from however many queues it is sent', async () => {
    const platform = await platforms.open({ jobsEnabled: false });
    const handler = async () => {};
    platform.jobs.register({ name: 'test.purge', handler });
    await platform.jobs.start();
    // Another server on the same database (PGlite has one process: the same queue again).
    const other =
      platform.database.kind === 'postgres'
        ? createJobQueue({ database: platform.database, logger: platform.logger, work: false })
        : platform.jobs;
    if (other !== platform.jobs) {
      other.register({ name: 'test.purge', handler });
      await other.start();
    }
    try {
      const once = { singletonKey: 'test.purge', startAfter: 3_600 };
      const ids = [
        await platform.jobs.send('test.purge', {}, once),
        await other.send('test.purge', {}, once),
        await platform.jobs.send('test.purge', {}, { ...once, startAfter: 60 }),
      ];
      expect(new Set(ids).size).toBe(1);
      expect(await platform.jobs.depth()).toEqual([{ name: 'test.purge', queued: 1, active: 0 }]);
      // The waiting job starts at the time it was last given.
      const { rows } = await platform.jobs.boss
        .getDb()
        .executeSql(
          "select start_after < now() + interval '2 minutes' as soon from pgboss.job where id = $1",
          [ids[0]],
        );
      expect(rows).toEqual([{ soon: true }]);
    } finally {
      if (other !== platform.jobs) await other.stop();
    }
  });

  it('closes what it opened when it stops, and only that', async () => {
    const platform = await platforms.open({ jobsEnabled: false });
    const queue = createJobQueue({
      database: platform.database,
      logger: platform.logger,
      work: true,
    });
    queue.register({ name: 'test.closing', handler: async () => {} });
    await queue.start();
    await queue.send('test.closing', {});
    await queue.stop();
    if (platform.database.kind === 'postgres') {
      // pg-boss's own pool, which it made from the connection string, is ended.
      await expect(queue.boss.getDb().executeSql('select 1')).rejects.toThrow(/not opened/);
    } else {
      // PGlite is the app's: still open for what is closed after the queue.
      await expect(queue.boss.getDb().executeSql('select 1 as one')).resolves.toMatchObject({
        rows: [{ one: 1 }],
      });
    }
    await expect(
      platform.database.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute(),
    ).resolves.toEqual([{ one: 1 }]);
  });

  it('refuses an unknown job name and late registration', async () => {
    const platform = await platforms.open();
    platform.jobs.register({ name: 'test.known', handler: async () => {} });
    await platform.jobs.start();
    await expect(platform.jobs.send('test.unknown', {})).rejects.toThrow(/unknown job/);
    expect(() => platform.jobs.register({ name: 'test.late', handler: async () => {} })).toThrow(
      /after the queue started/,
    );
  });
});

// Several servers on one PostgreSQL (issue #20 item 5): the server that sends a job is often not
// one that runs it (an api server, or a worker whose slots are busy).
for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`job queues of several servers on ${backend}`, () => {
    const platforms = platformsPerTest(backend);

    it('a job sent on one server wakes the worker of another at once, not at its next poll', async () => {
      // Server A only sends (no workers), like an api server.
      const sender = await platforms.open({ jobsEnabled: false });
      // Server B: its own pool, an hour between polls, so only a wake-up can start the job.
      const database = await openDatabase({
        kind: 'postgres',
        connectionString: sender.database.connectionString!,
        poolSize: 2,
      });
      const worker = createJobQueue({
        database,
        logger: sender.logger,
        work: true,
        pollingIntervalSeconds: 3_600,
      });
      let done!: (word: string) => void;
      const ran = new Promise<string>((resolve) => {
        done = resolve;
      });
      const handler = async (job: { data: { word: string } }) => done(job.data.word);
      worker.register<{ word: string }>({ name: 'test.cross-wake', handler });
      sender.jobs.register<{ word: string }>({ name: 'test.cross-wake', handler });
      try {
        await worker.start();
        await sender.jobs.start();
        await sender.jobs.send('test.cross-wake', { word: 'elsewhere' });
        expect(await ran).toBe('elsewhere');
      } finally {
        await worker.stop();
        await database.close();
      }
    });
  });
}
