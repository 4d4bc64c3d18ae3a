import { describe, expect, it } from 'vitest';
import { eventually } from '../eventually.ts';
import { testDatabaseUrl } from '../test-postgres.ts';
import { reachable, TEST_REDIS_URL } from '../test-redis.ts';
import { clusterPerFile } from './cluster-harness.ts';

// Issue #20 item 1 with real processes: one `api` server (HTTP only: it holds no dataset and
// executes no run) and two `worker`s on fixed ports (each knows its internal URL). Every request
// of these tests goes to the api server; the datasets and their runs live on the workers
// (platform/datasets/dataset-servers.ts).
const ROWS = 12;
const ready = testDatabaseUrl() !== undefined && (await reachable(TEST_REDIS_URL));

describe.runIf(ready)('an api server and two workers', { timeout: 300_000 }, () => {
  const t = clusterPerFile({
    roles: ['api', 'worker', 'worker'],
    fixedPorts: true,
    env: {
      // A dead worker's datasets (and its presence) lapse after 6 s.
      BRAINCELLS_RUN_LEASE_MS: '5000',
      BRAINCELLS_DATASET_LEASE_TTL: '6s',
      BRAINCELLS_SHUTDOWN_TIMEOUT_MS: '2000',
    },
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${t.url(0)}/api/projects/${t.seeded.projectId}/datasets${path}`, {
      method,
      headers: t.headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as never };
  };
  const holderOf = async (datasetId: string) => {
    const lease = await t.db
      .selectFrom('dataset_lease')
      .select('owner_url')
      .where('dataset_id', '=', datasetId)
      .executeTakeFirstOrThrow();
    return t.cluster.servers.findIndex((server) => server.url === lease.owner_url);
  };
  const apiLeases = () =>
    t.db
      .selectFrom('dataset_lease')
      .select('dataset_id')
      .where('owner_url', '=', t.url(0))
      .execute();

  it('a dataset made, filled by an AI-column run and edited through the api server lives on a worker, and on the other after a kill -9', async () => {
    const created = await call('POST', '', { name: 'Roles', rows: 0, columns: [{ name: 'Item' }] });
    expect(created.status).toBe(201);
    const dataset = created.body as { id: string; columns: { id: string }[] };
    const item = dataset.columns[0]!.id;
    const appended = await call('POST', `/${dataset.id}/rows`, {
      rows: Array.from({ length: ROWS }, (_, index) => ({ [item]: `roles item ${index}` })),
    });
    expect(appended.status).toBe(201);
    const holder = await holderOf(dataset.id);
    expect([1, 2]).toContain(holder);

    t.fake.reset();
    const started = await call('POST', `/${dataset.id}/ai-columns`, {
      name: 'Summary',
      prompt: 'Summarise {{Item}}',
      provider: t.seeded.providerId,
      // Slow enough to be seen running.
      model: 'gpt-4o-mini@latency=300',
    });
    expect(started.status).toBe(201);
    const { run } = started.body as { run: { id: string } };
    // Who executes it, read while it runs (the lease owner is `<pid>-…`).
    const executors = new Set<number>();
    const finished = await eventually(
      async () => {
        const lease = await t.db
          .selectFrom('durable_run')
          .select('lease_owner')
          .where('id', '=', run.id)
          .executeTakeFirstOrThrow();
        if (lease.lease_owner) executors.add(Number(lease.lease_owner.split('-')[0]));
        return (await call('GET', `/${dataset.id}/runs/${run.id}`)).body as {
          status: string;
          progress: { done: number };
        };
      },
      (view) => !['queued', 'running'].includes(view.status),
      { what: 'the run to finish', timeoutMs: 120_000, intervalMs: 50 },
    );
    expect(finished).toMatchObject({ status: 'completed', progress: { done: ROWS } });
    // The worker that got the job may hold the run a moment before handing it to the holder.
    const servers = [...executors].map((pid) => t.serverOfPid(pid));
    expect(servers).toContain(holder);
    expect(servers).not.toContain(0);
    expect(await apiLeases()).toEqual([]);

    // The holder dies: once its lease and its presence lapse, the api server sends the next
    // edit to the other worker, which takes the dataset over.
    await t.cluster.kill(holder);
    const edited = await eventually(
      () =>
        call('PATCH', `/${dataset.id}/cells`, {
          rowId: '1',
          columnId: item,
          expectedVersion: 0,
          value: 'after the kill',
        }),
      (answer) => answer.status !== 503,
      { what: 'another worker to take the dataset', timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(edited.status).toBe(200);
    expect(await holderOf(dataset.id)).toBe(3 - holder);
    expect(await apiLeases()).toEqual([]);
  });

  it('answers 503 in the error envelope, at once, when no worker is running', async () => {
    const created = await call('POST', '', { name: 'Alone', rows: 1, columns: [{ name: 'T' }] });
    expect(created.status).toBe(201);
    const dataset = created.body as { id: string };
    // Stopped workers give their datasets up and leave the live servers.
    await t.cluster.stop(1);
    await t.cluster.stop(2);
    const window = await call('GET', `/${dataset.id}/rows?limit=10`);
    expect(window.status).toBe(503);
    expect(window.body).toMatchObject({
      error: {
        code: 'SERVICE_UNAVAILABLE',
        retryable: true,
        message: expect.stringContaining('No server that holds datasets'),
      },
    });
    expect(await apiLeases()).toEqual([]);
  });
});
