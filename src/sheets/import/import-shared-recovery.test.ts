import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../../test/factories.ts';
import {
  createSecondServer,
  createTestApp,
  type TestApp,
  testBackends,
} from '../../../test/test-platform.ts';
import { datasetFilePath } from '../../platform/duckdb/duckdb-datasets.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { datasetTable } from '../sheet-query.ts';
import type { SheetsModule } from '../sheets-module.ts';

const SECRET = 'shared-recovery-test-secret-0123456789abcdef';

/**
 * Issue #20 and docs/sheets.md "Import": with per-dataset files on the shared storage folder,
 * the partial table of an import whose server stopped mid-read is dropped by whichever
 * server's `sheets.recover-imports` claims it — not only by the server that ran it.
 */
describe.each(testBackends().filter((backend) => backend === 'postgres'))(
  'recovering a stalled import on a shared storage folder (%s)',
  (backend) => {
    let a: TestApp;
    let b: TestApp;
    let aClosed = false;
    let shared: string;
    let members: ProjectWithMembers;
    const sheetsOf = (t: TestApp) => (t.app as unknown as { sheets: SheetsModule }).sheets;

    beforeAll(async () => {
      shared = mkdtempSync(path.join(os.tmpdir(), 'bc-recover-shared-'));
      const config = { secret: { current: SECRET, previous: [] }, storageDir: shared };
      // B owns the test database (closing it drops it): A is the second server, the one that stops.
      b = await createTestApp({ backend, config, startJobs: false });
      a = await createSecondServer(b, { config, startJobs: false });
      members = await createProjectWithMembers(b);
    });
    afterAll(async () => {
      if (!aClosed) await a?.close();
      await b?.close();
      rmSync(shared, { recursive: true, force: true });
    });

    it("B drops the partial table A's import left on the shared folder after A stopped", async () => {
      // What A leaves when it stops mid-read: an import `running` whose heartbeat is old, its
      // `importing` dataset, and a partial table in the dataset's own file (held by A).
      const { store } = sheetsOf(a);
      const datasetId = uuidv7();
      await store.insertDataset({
        id: datasetId,
        project_id: members.project.id,
        name: 'crashed',
        status: 'importing',
        created_by: members.editor.actor.userId,
      });
      const row = await store.insertImport({
        id: uuidv7(),
        project_id: members.project.id,
        source: 'path',
        display_name: 'crashed.csv',
        status: 'running',
        options: '{}',
        file_path: '/nowhere/crashed.csv',
        dataset_id: datasetId,
        started_at: new Date(Date.now() - 600_000),
        heartbeat_at: new Date(Date.now() - 120_000),
      });
      await a.platform.duckdb.datasets.open(datasetId, { create: true });
      await a.platform.duckdb.run(`create table ${datasetTable(datasetId)} as select 1 as _row_id`);
      await a.platform.duckdb.run('checkpoint');
      const file = datasetFilePath(path.join(shared, 'datasets'), datasetId);
      expect(existsSync(file)).toBe(true);

      aClosed = true;
      await a.close();

      expect(await sheetsOf(b).imports.recoverStalled(30)).toBe(1);
      const failed = await sheetsOf(b).imports.getImport(
        members.editor.actor,
        members.project.id,
        row.id,
      );
      expect(failed).toMatchObject({ status: 'failed', error: { code: 'SERVICE_UNAVAILABLE' } });
      // The dataset's file is gone from the shared folder, and its lease with it — also after
      // the background steps the drop queued (the partial table had no row-id index yet; its
      // build, run after the drop, used to claim the dataset again and keep renewing it).
      expect(existsSync(file)).toBe(false);
      await b.platform.duckdb.checkpointsSettled();
      expect(b.platform.duckdb.datasets.attached()).not.toContain(datasetId);
      expect(await b.platform.datasetLeases.owner(datasetId)).toBeUndefined();
    });
  },
);
