import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { createProjectWithMembers, type ProjectWithMembers } from '../../../test/factories.ts';
import {
  createSecondServer,
  createTestApp,
  type TestApp,
  testBackends,
} from '../../../test/test-platform.ts';
import type { FakeLlm } from '../../../tools/fake-llm/fake-llm-server.ts';
import { monitorLeaseKey } from '../../monitor/monitor-files.ts';
import { uuidv7 } from '../ids.ts';
import {
  FORWARDED_IDENTITY_HEADER,
  forwardingKey,
  signForwardedIdentity,
} from './dataset-forwarding.ts';
import { listenInternally, openServersSetup } from './dataset-test-servers.ts';

const SECRET = 'roles-test-secret-0123456789abcdef-xyz';
const FAKE_KEY = 'sk-roles-fake-provider-key-0123456789';
const ROWS = 6;

// Issue 20 item 1: an `api` server serves HTTP only. Two whole servers in one process on one
// PostgreSQL and one storage folder: a `worker` (it answers other servers on its internal URL)
// and an `api` server, which every request of these tests goes to.
describe.each(testBackends().filter((backend) => backend === 'postgres'))(
  'an api server (BRAINCELLS_ROLE=api) beside a worker (%s)',
  (backend) => {
    let worker: TestApp;
    let api: TestApp;
    let fake: FakeLlm;
    let setup: Awaited<ReturnType<typeof openServersSetup>>;
    let members: ProjectWithMembers;

    beforeAll(async () => {
      setup = await openServersSetup({ secret: SECRET, fakeKey: FAKE_KEY, folder: 'bc-roles-' });
      fake = setup.fake;
      const { config } = setup;
      worker = await createTestApp({
        backend,
        config: { ...config, role: 'worker', jobsEnabled: true },
      });
      await listenInternally(worker);
      // Its heartbeat now carries the URL it learnt after listening.
      await worker.platform.datasetServers.beat();
      api = await createSecondServer(worker, {
        config: { ...config, role: 'api', jobsEnabled: false },
      });
      members = await createProjectWithMembers(worker);
      // Two whole servers starting on a machine with both cores busy.
    }, 180_000);
    afterAll(async () => {
      await api?.close();
      await worker?.close();
      await setup?.close();
    });

    const datasetsBase = () => `/api/projects/${members.project.id}/datasets`;
    const toApi = (method: 'GET' | 'POST' | 'PATCH', subpath: string, payload?: object) =>
      api.app.inject({
        method,
        url: `${datasetsBase()}${subpath}`,
        headers: members.editor.headers,
        ...(payload === undefined ? {} : { payload }),
      });
    const leasesOf = (server: TestApp) =>
      worker.platform.database.db
        .selectFrom('dataset_lease')
        .select('dataset_id')
        .where('owner_id', '=', server.platform.datasetLeases.serverId)
        .execute();
    const expectApiHoldsNothing = async () => {
      expect(await leasesOf(api)).toEqual([]);
      expect(api.platform.duckdb.datasets.attached()).toEqual([]);
    };

    it('makes a dataset on the worker, which holds it; edits and reads through the api server go there', async () => {
      const created = await toApi('POST', '', {
        name: 'Made through the api server',
        rows: 2,
        columns: [{ name: 'T' }],
      });
      expect(created.statusCode).toBe(201);
      const dataset = created.json() as { id: string; columns: { id: string }[] };
      expect(worker.platform.datasetLeases.holds(dataset.id)).toBe(true);

      const edit = await toApi('PATCH', `/${dataset.id}/cells`, {
        rowId: '1',
        columnId: dataset.columns[0]!.id,
        expectedVersion: 0,
        value: 'through api',
      });
      expect(edit.statusCode).toBe(200);
      expect(edit.json()).toMatchObject({ value: 'through api', version: 1 });
      const window = await toApi('GET', `/${dataset.id}/rows?limit=10`);
      expect(window.statusCode).toBe(200);
      expect(window.json().rows[0].cells[dataset.columns[0]!.id].value).toBe('through api');
      // The list counts rows where the files are.
      const list = await toApi('GET', '');
      expect(list.statusCode).toBe(200);
      expect(list.json().items).toEqual([expect.objectContaining({ id: dataset.id, rowCount: 2 })]);
      await expectApiHoldsNothing();
    });

    it('sends a dataset nobody holds to the worker, which claims it', async () => {
      const dataset = (
        await toApi('POST', '', { name: 'Let go', rows: 1, columns: [{ name: 'T' }] })
      ).json() as { id: string };
      await worker.platform.datasetLeases.release(dataset.id);
      expect(await worker.platform.datasetLeases.owner(dataset.id)).toBeUndefined();

      const window = await toApi('GET', `/${dataset.id}/rows?limit=10`);
      expect(window.statusCode).toBe(200);
      expect(window.json().rows).toHaveLength(1);
      expect(worker.platform.datasetLeases.holds(dataset.id)).toBe(true);
      await expectApiHoldsNothing();
    });

    it('executes no run: an AI-column run started through it runs on the worker', async () => {
      const provider = await worker.app.llm.admin.createProvider(
        members.owner.actor,
        members.project.id,
        { name: 'fake', kind: 'openai', baseUrl: `${fake.url}/v1`, apiKey: FAKE_KEY },
      );
      const dataset = (
        await toApi('POST', '', { name: 'Run', rows: 0, columns: [{ name: 'Item' }] })
      ).json() as { id: string; columns: { id: string }[] };
      const appended = await toApi('POST', `/${dataset.id}/rows`, {
        rows: Array.from({ length: ROWS }, (_, index) => ({
          [dataset.columns[0]!.id]: `roles item ${index}`,
        })),
      });
      expect(appended.statusCode).toBe(201);
      fake.reset();
      const created = await toApi('POST', `/${dataset.id}/ai-columns`, {
        name: 'Summary',
        prompt: 'Summarise {{Item}}',
        provider: provider.id,
        model: 'gpt-4o-mini',
      });
      expect(created.statusCode).toBe(201);
      const { run } = created.json() as { run: { id: string } };
      const finished = await eventually(
        async () => (await toApi('GET', `/${dataset.id}/runs/${run.id}`)).json(),
        (view: { status: string }) => !['queued', 'running'].includes(view.status),
        { what: 'the run to finish', timeoutMs: 60_000, intervalMs: 50 },
      );
      expect(finished).toMatchObject({ status: 'completed', progress: { done: ROWS, errors: 0 } });
      expect(fake.requests).toHaveLength(ROWS);
      const finishedOn = (server: TestApp) =>
        server.platform.logs.lines.some((line) => line.msg === 'generation run finished');
      expect(finishedOn(worker)).toBe(true);
      expect(finishedOn(api)).toBe(false);
      expect(api.platform.runHandoff.sent).toBe(0);
      await expectApiHoldsNothing();
    });

    it('refuses a run handed to it, even one signed by this deployment', async () => {
      const url = `/api/internal/runs/sheets.generate-column/${uuidv7()}/execute`;
      const signed = signForwardedIdentity(forwardingKey(SECRET), {
        actor: { server: worker.platform.datasetLeases.serverId },
        method: 'POST',
        url,
        expiresAt: Date.now() + 20_000,
      });
      const refused = await api.app.inject({
        method: 'POST',
        url,
        headers: { [FORWARDED_IDENTITY_HEADER]: signed },
      });
      expect(refused.statusCode).toBe(503);
      expect(refused.json().error.message).toContain('executes no runs');
      const unsigned = await api.app.inject({ method: 'POST', url });
      expect(unsigned.statusCode).toBe(401);
    });

    it("keeps a project's monitor data on the worker: reads through the api server are served there", async () => {
      const response = await api.app.inject({
        method: 'GET',
        url: `/api/projects/${members.project.id}/monitor/sessions`,
        headers: members.viewer.headers,
      });
      expect(response.statusCode).toBe(200);
      expect(response.json().items).toEqual([]);
      // The project's monitor file is held by the worker; the api server holds nothing.
      const monitorLease = await worker.platform.database.db
        .selectFrom('dataset_lease')
        .select('owner_id')
        .where('dataset_id', '=', monitorLeaseKey(members.project.id))
        .executeTakeFirst();
      expect(monitorLease?.owner_id).toBe(worker.platform.datasetLeases.serverId);
      await expectApiHoldsNothing();
    });

    // Last: the worker stops announcing itself.
    it('answers 503 at once when no server may hold the dataset, writing nothing', async () => {
      const dataset = (
        await toApi('POST', '', { name: 'Orphan', rows: 1, columns: [{ name: 'T' }] })
      ).json() as { id: string };
      await worker.platform.datasetLeases.release(dataset.id);
      await worker.platform.datasetServers.stop();
      // Served here without a worker: every dataset listed, its rows not counted.
      const listed = async () => {
        const list = await toApi('GET', '');
        expect(list.statusCode).toBe(200);
        return list.json().items as { id: string; rowCount: number | null }[];
      };
      const before = await listed();
      expect(before.map((item) => item.rowCount)).toEqual(before.map(() => null));
      expect(before.map((item) => item.id)).toContain(dataset.id);

      const window = await toApi('GET', `/${dataset.id}/rows?limit=10`);
      expect(window.statusCode).toBe(503);
      expect(window.json().error).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        retryable: true,
        details: { datasetId: dataset.id },
        message: expect.stringContaining('No server that holds datasets'),
      });
      const made = await toApi('POST', '', { name: 'Nowhere', rows: 1, columns: [{ name: 'T' }] });
      expect(made.statusCode).toBe(503);
      expect(made.json().error.code).toBe('SERVICE_UNAVAILABLE');
      expect(await listed()).toEqual(before);
      await expectApiHoldsNothing();
    });
  },
);
