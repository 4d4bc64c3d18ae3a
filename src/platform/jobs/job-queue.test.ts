import { describe, expect, it } from 'vitest';
import { platformsPerTest } from '../../../test/per-suite.ts';
import { testBackends } from '../../../test/test-platform.ts';

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
