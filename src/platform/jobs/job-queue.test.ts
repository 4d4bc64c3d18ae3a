import { describe, expect, it } from 'vitest';
import { platformsPerTest } from '../../../test/per-suite.ts';
import { testBackends } from '../../../test/test-platform.ts';
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
