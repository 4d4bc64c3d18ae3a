import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { createProjectWithMembers, type ProjectWithMembers } from '../../../test/factories.ts';
import { createTestApp, type TestApp, testBackends } from '../../../test/test-platform.ts';
import type { FakeLlm } from '../../../tools/fake-llm/fake-llm-server.ts';
import {
  FORWARDED_IDENTITY_HEADER,
  forwardingKey,
  signForwardedIdentity,
} from './dataset-forwarding.ts';
import { listenInternally, openServersSetup } from './dataset-test-servers.ts';

const SECRET = 'handoff-test-secret-0123456789abcdef-xyz';
const FAKE_KEY = 'sk-handoff-fake-provider-key-0123456789';
const ROWS = 12;

// Two whole servers in one process on one PostgreSQL and one storage folder: the holder
// serves HTTP and executes runs handed to it, but takes no jobs from the queue
// (BRAINCELLS_JOBS=false); every job goes to the other server, which does not hold the dataset.
describe.each(testBackends().filter((backend) => backend === 'postgres'))(
  'a run whose job reaches a server that does not hold its dataset (%s)',
  (backend) => {
    let holder: TestApp;
    let worker: TestApp;
    let fake: FakeLlm;
    let setup: Awaited<ReturnType<typeof openServersSetup>>;
    let workerDataDir: string;
    let members: ProjectWithMembers;

    beforeAll(async () => {
      setup = await openServersSetup({
        secret: SECRET,
        fakeKey: FAKE_KEY,
        folder: 'bc-handoff-shared-',
      });
      fake = setup.fake;
      // A run left by a server is taken over within 3 s (the last test).
      const config = { ...setup.config, runLeaseMs: 3_000 };
      holder = await createTestApp({ backend, config: { ...config, jobsEnabled: false } });
      await listenInternally(holder);
      workerDataDir = mkdtempSync(path.join(os.tmpdir(), 'bc-handoff-worker-'));
      worker = await createTestApp({
        config: { ...config, jobsEnabled: true },
        storage: { ...holder.storage, dataDir: workerDataDir },
      });
      members = await createProjectWithMembers(holder);
      // Two whole servers starting on a machine with both cores busy.
    }, 180_000);
    afterAll(async () => {
      await worker?.close();
      await holder?.close();
      await setup?.close();
      rmSync(workerDataDir, { recursive: true, force: true });
    });

    const datasetsBase = () => `/api/projects/${members.project.id}/datasets`;
    /** The editor's POST to the holder, below the project's datasets. */
    const postToHolder = (subpath: string, payload: Record<string, unknown>) =>
      holder.app.inject({
        method: 'POST',
        url: `${datasetsBase()}${subpath}`,
        headers: members.editor.headers,
        payload,
      });
    /** A provider on the fake LLM, owned by the project's owner. */
    const createProvider = (name: string, maxConcurrency: number) =>
      holder.app.llm.admin.createProvider(members.owner.actor, members.project.id, {
        name,
        kind: 'openai',
        baseUrl: `${fake.url}/v1`,
        apiKey: FAKE_KEY,
        maxConcurrency,
      });
    /** An empty dataset of one column, created on (and so held by) the holder. */
    const createDataset = async (name: string, columnName: string) =>
      (await postToHolder('', { name, rows: 0, columns: [{ name: columnName }] })).json() as {
        id: string;
        columns: { id: string }[];
      };
    const appendRows = (datasetId: string, columnId: string, prefix: string) =>
      postToHolder(`/${datasetId}/rows`, {
        rows: Array.from({ length: ROWS }, (_, index) => ({ [columnId]: `${prefix} ${index}` })),
      });
    const viewRun = (app: TestApp, datasetId: string, runId: string) =>
      app.app
        .inject({
          method: 'GET',
          url: `${datasetsBase()}/${datasetId}/runs/${runId}`,
          headers: members.editor.headers,
        })
        .then(
          (response) =>
            response.json() as { status: string; progress: { done: number; errors: number } },
        );
    const readRows = async (datasetId: string) =>
      (
        await worker.app.inject({
          method: 'GET',
          url: `${datasetsBase()}/${datasetId}/rows?limit=100`,
          headers: members.editor.headers,
        })
      ).json() as { rows: { cells: Record<string, { status: string }> }[] };
    /**
     * The holder's lease runs out and the worker claims the dataset; the holder's next heartbeat
     * finds it gone and closes the file: its run's writes are refused from then on.
     */
    const moveLeaseToWorker = async (datasetId: string) => {
      await holder.platform.database.db
        .updateTable('dataset_lease')
        .set({ expires_at: new Date(Date.now() - 1_000) })
        .where('dataset_id', '=', datasetId)
        .execute();
      await worker.platform.datasetLeases.claim(datasetId);
      await holder.platform.datasetLeases.renew();
      expect(holder.platform.datasetLeases.holds(datasetId)).toBe(false);
    };
    /** Waits for the run to end, telling `onView` each state it reads on the way. */
    const finishedOn = (
      app: TestApp,
      datasetId: string,
      runId: string,
      onView: (view: { status: string }) => void = () => {},
    ) =>
      eventually(
        async () => {
          const current = await viewRun(app, datasetId, runId);
          onView(current);
          return current;
        },
        (current) =>
          current.status !== undefined && !['queued', 'running'].includes(current.status),
        { what: 'the run to finish on the new holder', timeoutMs: 120_000, intervalMs: 100 },
      );

    it('is handed to the holder, which fills every cell once; the other server never opens the file', async () => {
      const provider = await createProvider('fake', 4);
      const dataset = await createDataset('Held', 'Item');
      const appended = await appendRows(dataset.id, dataset.columns[0]!.id, 'handoff item');
      expect(appended.statusCode).toBe(201);
      expect(holder.platform.datasetLeases.holds(dataset.id)).toBe(true);

      fake.reset();
      const created = await postToHolder(`/${dataset.id}/ai-columns`, {
        name: 'Summary',
        prompt: 'Summarise {{Item}}',
        provider: provider.id,
        model: 'gpt-4o-mini',
      });
      expect(created.statusCode).toBe(201);
      const { column, run } = created.json() as { column: { id: string }; run: { id: string } };

      // Read through the server that got the job: the request is forwarded to the holder.
      const finished = await eventually(
        () => viewRun(worker, dataset.id, run.id),
        (view) => !['queued', 'running'].includes(view.status),
        { what: 'the run to finish', timeoutMs: 60_000, intervalMs: 50 },
      );
      expect(finished).toMatchObject({ status: 'completed', progress: { done: ROWS, errors: 0 } });
      expect(worker.platform.runHandoff.sent).toBe(1);
      expect(worker.platform.duckdb.datasets.attached()).not.toContain(dataset.id);
      expect(
        holder.platform.logs.lines.some((line) => line.msg === 'generation run finished'),
      ).toBe(true);
      // One call per row: the other server gave the run away before calling anything.
      const prompts = fake.requests.map((request) => JSON.stringify(request.body));
      expect(prompts).toHaveLength(ROWS);
      for (let index = 0; index < ROWS; index++)
        expect(prompts.filter((text) => text.includes(`handoff item ${index}"`))).toHaveLength(1);

      const window = await readRows(dataset.id);
      expect(window.rows).toHaveLength(ROWS);
      expect(window.rows.map((row) => row.cells[column.id]?.status)).toEqual(
        Array(ROWS).fill('done'),
      );
    });

    it('a run whose server loses the dataset mid-way is taken over by the new holder, every cell done', async () => {
      const provider = await createProvider('slow fake', 2);
      const dataset = await createDataset('Lost mid-run', 'Item');
      await appendRows(dataset.id, dataset.columns[0]!.id, 'lost item');
      const created = await postToHolder(`/${dataset.id}/ai-columns`, {
        name: 'Slow',
        prompt: 'Summarise {{Item}}',
        provider: provider.id,
        model: 'gpt-4o-mini@latency=400',
      });
      const { column, run } = created.json() as { column: { id: string }; run: { id: string } };
      await eventually(
        () => viewRun(holder, dataset.id, run.id),
        (current) => current.progress?.done >= 2,
        { what: 'the holder to fill two cells', timeoutMs: 60_000, intervalMs: 50 },
      );

      await moveLeaseToWorker(dataset.id);

      const finished = await finishedOn(worker, dataset.id, run.id);
      expect(finished).toMatchObject({ status: 'completed', progress: { done: ROWS } });
      expect(
        holder.platform.logs.lines.some(
          (line) => line.msg === 'dataset lost mid-run; the run is left to be taken over',
        ),
      ).toBe(true);
      const window = await readRows(dataset.id);
      expect(window.rows.map((row) => row.cells[column.id]?.status)).toEqual(
        Array(ROWS).fill('done'),
      );
    });

    it('a generate-rows run whose server loses the dataset mid-way is taken over by the new holder, never cancelled, every row made once', async () => {
      const provider = await createProvider('slow rows fake', 2);
      const dataset = await createDataset('Rows lost mid-run', 'Name');
      expect(holder.platform.datasetLeases.holds(dataset.id)).toBe(true);
      const started = await postToHolder(`/${dataset.id}/generate-rows`, {
        description: 'Fictional bookshops in Lisbon',
        count: ROWS,
        provider: provider.id,
        model: 'gpt-4o-mini@latency=400',
      });
      expect(started.statusCode).toBe(202);
      const runId = (started.json() as { id: string }).id;
      await eventually(
        () => viewRun(holder, dataset.id, runId),
        (current) => current.progress?.done >= 2,
        { what: 'the holder to append two rows', timeoutMs: 60_000, intervalMs: 50 },
      );

      // As above: the holder's lease lapses, the other server claims the dataset.
      await moveLeaseToWorker(dataset.id);

      const seen = new Set<string>();
      const finished = await finishedOn(worker, dataset.id, runId, (current) =>
        seen.add(current.status),
      );
      expect(seen).not.toContain('cancelled');
      expect(finished).toMatchObject({ status: 'completed', progress: { done: ROWS, errors: 0 } });
      expect(
        holder.platform.logs.lines.some(
          (line) => line.msg === 'dataset lost mid-run; the run is left to be taken over',
        ),
      ).toBe(true);
      const window = await readRows(dataset.id);
      expect(window.rows).toHaveLength(ROWS);
      // A takeover waits for the run's lease (3 s) and a sweep: generous on a busy machine.
    }, 180_000);

    it('the hand-off route answers only a server of the deployment, and only for a kind it runs', async () => {
      const runId = '0190a000-0000-7000-8000-0000000000aa';
      const url = `/api/internal/runs/sheets.generate-column/${runId}/execute`;
      const sign = (secret: string, target = url) =>
        signForwardedIdentity(forwardingKey(secret), {
          actor: { server: 'x' },
          method: 'POST',
          url: target,
          expiresAt: Date.now() + 10_000,
        });
      const post = (target: string, header?: string) =>
        holder.app.inject({
          method: 'POST',
          url: target,
          headers: header ? { [FORWARDED_IDENTITY_HEADER]: header } : {},
        });
      for (const header of [
        undefined,
        sign('another-deployment-secret-0123456789abcdef'),
        sign(SECRET, `/api/internal/runs/sheets.generate-rows/${runId}/execute`),
      ]) {
        const refused = await post(url, header);
        expect(refused.statusCode).toBe(401);
        expect(refused.json().error.code).toBe('UNAUTHENTICATED');
      }
      const unknown = '/api/internal/runs/chat.reply/0190a000-0000-7000-8000-0000000000aa/execute';
      expect((await post(unknown, sign(SECRET, unknown))).statusCode).toBe(404);
      // A signed hand-off of a run that does not exist is accepted and finds nothing to do.
      expect((await post(url, sign(SECRET))).statusCode).toBe(202);
    });
  },
);
