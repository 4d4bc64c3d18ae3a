import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../../test/factories.ts';
import {
  createSecondServer,
  createTestApp,
  type TestApp,
  testBackends,
} from '../../../test/test-platform.ts';
import type { SheetsModule } from '../sheets-module.ts';
import { importDir } from './import-files.ts';

const SECRET = 'shared-purge-test-secret-0123456789abcdef';
const DAY_MS = 24 * 3_600_000;

/**
 * Issue #20: uploads live on the storage folder every server shares
 * (docs/decisions/2026-12-06-uploads-on-shared-storage.md), and the hourly purge of any server
 * sweeps it. Two servers on one PostgreSQL database and one storage folder: what server A
 * received and never imported is removed by server B after its retention, with the stray files
 * nobody's row names; an upload whose import is started (its job may run on any server), and a
 * file still being written, are never touched.
 */
describe.each(testBackends().filter((backend) => backend === 'postgres'))(
  'the stray-upload purge on a shared storage folder (%s)',
  (backend) => {
    let a: TestApp;
    let b: TestApp;
    let shared: string;
    let members: ProjectWithMembers;
    const importsOf = (t: TestApp) => (t.app as unknown as { sheets: SheetsModule }).sheets.imports;

    beforeAll(async () => {
      shared = mkdtempSync(path.join(os.tmpdir(), 'bc-purge-shared-'));
      const config = { secret: { current: SECRET, previous: [] }, storageDir: shared };
      a = await createTestApp({ backend, config, startJobs: false });
      // The second server: its own data dir and DuckDB, the first one's database and storage.
      b = await createSecondServer(a, { config, startJobs: false });
      members = await createProjectWithMembers(a);
    });
    afterAll(async () => {
      await b?.close();
      await a?.close();
      rmSync(shared, { recursive: true, force: true });
    });

    async function* chunks(content: string) {
      yield Buffer.from(content);
    }
    const upload = (t: TestApp, filename: string) =>
      importsOf(t).createUpload(members.editor.actor, members.project.id, {
        body: chunks('name,n\nx,1\ny,2\n'),
        filename,
      });
    const uploads = () => importDir(shared);
    const fileOf = async (importId: string) => {
      const row = await a.platform.database.db
        .selectFrom('dataset_import')
        .select('file_path')
        .where('id', '=', importId)
        .executeTakeFirstOrThrow();
      return path.join(uploads(), path.basename(row.file_path!));
    };
    /** Received two days ago: the row and its file. */
    const age = async (importId: string) => {
      await a.platform.database.db
        .updateTable('dataset_import')
        .set({ created_at: sql`now() - interval '2 days'` })
        .where('id', '=', importId)
        .execute();
      const past = new Date(Date.now() - 2 * DAY_MS);
      utimesSync(await fileOf(importId), past, past);
    };

    it('B removes what A received and never imported, and strays; never a started upload or a fresh file', async () => {
      const forgotten = await upload(a, 'forgotten.csv');
      const started = await upload(a, 'started.csv');
      const fresh = await upload(a, 'fresh.csv');
      expect(await fileOf(forgotten.id)).toMatch(new RegExp(`^${uploads()}`));
      await importsOf(a).startImport(
        members.editor.actor,
        members.project.id,
        started.id,
        undefined,
        false,
      );
      await age(forgotten.id);
      await age(started.id);
      // A crash between an upload's file and its row, long ago; and one being written now.
      const oldStray = path.join(uploads(), 'old-stray.upload');
      writeFileSync(oldStray, 'left by a crash');
      utimesSync(oldStray, new Date(Date.now() - 2 * DAY_MS), new Date(Date.now() - 2 * DAY_MS));
      const newStray = path.join(uploads(), 'being-written.upload');
      writeFileSync(newStray, 'name,n\n');

      // Both servers' hourly purges at once: the expired upload is claimed once.
      const purged = await Promise.all([
        importsOf(b).purgeExpiredUploads(),
        importsOf(a).purgeExpiredUploads(),
      ]);
      expect(purged.reduce((sum, n) => sum + n, 0)).toBe(1);

      const view = (id: string) =>
        importsOf(b).getImport(members.editor.actor, members.project.id, id);
      expect(await view(forgotten.id)).toMatchObject({
        status: 'cancelled',
        error: { code: 'CONFLICT' },
      });
      expect(existsSync(await fileOf(forgotten.id))).toBe(false);
      expect(existsSync(oldStray)).toBe(false);
      // Kept: the started upload (its job may run on either server), the fresh one, the file
      // still being written.
      expect(await view(started.id)).toMatchObject({ status: 'queued' });
      expect(existsSync(await fileOf(started.id))).toBe(true);
      expect(await view(fresh.id)).toMatchObject({ status: 'uploaded' });
      expect(existsSync(await fileOf(fresh.id))).toBe(true);
      expect(existsSync(newStray)).toBe(true);

      // And the started one imports on the server that did not receive it, every row.
      const result = await importsOf(b).executeImport(started.id);
      expect(result).toMatchObject({ status: 'succeeded', rowsImported: 2 });
      expect(existsSync(await fileOf(started.id))).toBe(false);
    });
  },
);
