import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { createTestApp, type TestApp, testBackends } from '../../test/test-platform.ts';
import type { Config } from '../platform/config.ts';
import { type DuckDb, openDuckDb } from '../platform/duckdb/duckdb.ts';
import { hasLegacyMonitorRows, legacyMonitorProjects } from './monitor-carry-over.ts';
import { createSharedMonitorFiles } from './monitor-files.ts';
import { importTree } from './monitor-import.ts';
import { createMonitorStore, type MonitorStore } from './monitor-store.ts';
import { ensureMonitorTables } from './monitor-tables.ts';
import { claudeCallTranscript, writeClaudeProjects } from './monitor-test-helpers.ts';

const DELETED_SESSION = '7d0c1f4e-2b1a-4c3d-9e8f-0000000000de';

// A server that was alone (its data dir's DuckDB holds every project's monitor rows) joins a
// shared deployment: each project's rows move into the project's own file the first time
// the server holds it (issue 20, docs/deploy.md "Monitor data across servers").
describe.each(testBackends())('monitor rows carried over from a data dir (%s)', (backend) => {
  let t: TestApp;
  let root: string;
  let logs: string;
  let legacy: DuckDb;
  /** Sessions as the single server reported them before the switch. */
  const before = new Map<string, unknown>();
  const projects = [
    '0193a000-0000-7000-8000-0000000000c1',
    '0193a000-0000-7000-8000-0000000000c2',
    '0193a000-0000-7000-8000-0000000000c3',
  ];
  const SERVER = '0193a000-0000-7000-8000-0000000000e1';

  const report = (store: MonitorStore, projectId: string) =>
    store.sessionReport({ projectId, since: undefined });
  const reimport = (store: MonitorStore, projectId: string) =>
    importTree({ store, projectId, root: logs, source: 'auto' });

  beforeAll(async () => {
    t = await createTestApp({ backend, startJobs: false });
    root = mkdtempSync(path.join(os.tmpdir(), 'bc-monitor-carry-'));
    logs = path.join(root, 'logs');
    mkdirSync(logs);
    const { projects: claude } = writeClaudeProjects(logs);
    const deleted = path.join(claude, '-home-dev-old', `${DELETED_SESSION}.jsonl`);
    mkdirSync(path.dirname(deleted), { recursive: true });
    writeFileSync(deleted, claudeCallTranscript(DELETED_SESSION, { input: 5, output: 77 }));
    // Single-server days: every project imported into the data dir's one file…
    legacy = await openDuckDb({ path: path.join(root, 'data', 'braincells.duckdb') });
    await ensureMonitorTables(legacy);
    const store = createMonitorStore(legacy);
    for (const projectId of projects) {
      await reimport(store, projectId);
      before.set(projectId, await report(store, projectId));
    }
    // …and a transcript deleted since: its rows are the history only the monitor keeps.
    rmSync(deleted);
    for (const projectId of projects) {
      expect(await reimport(store, projectId)).toMatchObject({ departed: 1 });
      expect(await report(store, projectId)).toEqual(before.get(projectId));
    }
  });
  afterAll(async () => {
    await legacy?.close();
    await t?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const server = (options: { afterCarryCopy?: () => void } = {}) =>
    createSharedMonitorFiles({
      database: t.platform.database,
      dir: path.join(root, 'shared', 'monitor'),
      serverId: SERVER,
      internalUrl: () => undefined,
      ttlMs: 9_000,
      logger: t.platform.logger,
      legacy,
      ...options,
    });

  it("moves a project's rows into its file on first hold: same totals, the deleted transcript's session kept, nothing left behind; a re-import changes nothing", async () => {
    const [projectId] = projects as [string];
    expect(await legacyMonitorProjects(legacy)).toEqual(projects);
    const files = server();
    try {
      const { store } = await files.open(projectId);
      const carried = await report(store, projectId);
      expect(carried).toEqual(before.get(projectId));
      expect(carried.some((row) => row.sessionId === DELETED_SESSION)).toBe(true);
      expect(await hasLegacyMonitorRows(legacy, projectId)).toBe(false);
      // The other projects' rows stay until their own files are opened.
      expect(await hasLegacyMonitorRows(legacy, projects[1]!)).toBe(true);
      // The same logs imported again in shared mode: the files are known, nothing doubles.
      expect(await reimport(store, projectId)).toMatchObject({ files: 0 });
      expect(await report(store, projectId)).toEqual(before.get(projectId));
      expect((await store.files(projectId)).length).toBe(4);
    } finally {
      await files.close();
    }
    // A restart finds nothing left to carry and reads the same.
    const again = server();
    try {
      expect(await report((await again.open(projectId)).store, projectId)).toEqual(
        before.get(projectId),
      );
    } finally {
      await again.close();
    }
  });

  it('a crash between the copy and the cleanup leaves the totals right after a restart', async () => {
    const projectId = projects[1]!;
    const crashing = server({
      afterCarryCopy: () => {
        throw new Error('crash between copy and cleanup');
      },
    });
    try {
      await expect(crashing.open(projectId)).rejects.toThrow('crash between copy and cleanup');
    } finally {
      await crashing.close();
    }
    // Both files hold the rows now; the restarted server copies nothing again, then cleans up.
    expect(await hasLegacyMonitorRows(legacy, projectId)).toBe(true);
    const restarted = server();
    try {
      const { store } = await restarted.open(projectId);
      expect(await report(store, projectId)).toEqual(before.get(projectId));
      expect((await store.files(projectId)).length).toBe(4);
      expect(await hasLegacyMonitorRows(legacy, projectId)).toBe(false);
    } finally {
      await restarted.close();
    }
  });

  it('files another server imported into the project file first are not copied again: counted once', async () => {
    const projectId = projects[2]!;
    // Another server (no rows of its own) held the project first and imported the logs that
    // are still on disk: the project's file has those files under the same paths.
    const other = createSharedMonitorFiles({
      database: t.platform.database,
      dir: path.join(root, 'shared', 'monitor'),
      serverId: '0193a000-0000-7000-8000-0000000000e2',
      internalUrl: () => undefined,
      ttlMs: 9_000,
      logger: t.platform.logger,
    });
    try {
      const { store } = await other.open(projectId);
      await reimport(store, projectId);
      const partial = await report(store, projectId);
      expect(partial.some((row) => row.sessionId === DELETED_SESSION)).toBe(false);
    } finally {
      await other.close();
    }
    const files = server();
    try {
      const { store } = await files.open(projectId);
      // Only the deleted transcript's file came over; the totals are the single server's.
      expect(await report(store, projectId)).toEqual(before.get(projectId));
      expect((await store.files(projectId)).length).toBe(4);
      expect(await legacyMonitorProjects(legacy)).toEqual([]);
    } finally {
      await files.close();
    }
  });
});

// The same through whole servers on PostgreSQL: one alone imports through the API, then a
// server on its data dir starts in shared mode (DATABASE_URL + a storage folder).
describe.each(testBackends().filter((backend) => backend === 'postgres'))(
  'a server switched to shared mode carries its monitor rows over (%s)',
  (backend) => {
    let owner: TestApp;
    let root: string;
    let logs: string;
    let members: ProjectWithMembers;

    beforeAll(async () => {
      owner = await createTestApp({ backend, startJobs: false });
      root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'bc-monitor-switch-')));
      logs = path.join(root, 'logs');
      mkdirSync(logs);
      members = await createProjectWithMembers(owner);
    });
    afterAll(async () => {
      await owner?.close();
      rmSync(root, { recursive: true, force: true });
    });

    /** A server on the owner's database with the data dir `root/data` (kept across restarts). */
    const serverOn = (config: Partial<Config>) =>
      createTestApp({
        startJobs: false,
        storage: { ...owner.storage, dataDir: path.join(root, 'data') },
        config: { monitor: { roots: [logs] }, ...config },
      });
    const sessions = async (server: TestApp) => {
      const response = await server.app.inject({
        method: 'GET',
        url: `/api/projects/${members.project.id}/monitor/sessions`,
        headers: members.viewer.headers,
      });
      expect(response.statusCode).toBe(200);
      return response.json().items as { sessionId: string }[];
    };

    it("keeps the single server's totals, the deleted transcript's session included", async () => {
      const { projects: claude } = writeClaudeProjects(logs);
      const deleted = path.join(claude, '-home-dev-old', `${DELETED_SESSION}.jsonl`);
      mkdirSync(path.dirname(deleted), { recursive: true });
      writeFileSync(deleted, claudeCallTranscript(DELETED_SESSION, { output: 77 }));

      const alone = await serverOn({});
      let before: unknown;
      try {
        const imported = await alone.app.inject({
          method: 'POST',
          url: `/api/projects/${members.project.id}/monitor/imports`,
          headers: members.editor.headers,
          payload: { path: logs },
        });
        expect(imported.statusCode).toBe(200);
        before = await sessions(alone);
      } finally {
        await alone.close();
      }
      rmSync(deleted);

      const shared = await serverOn({
        storageDir: path.join(root, 'shared'),
        secret: { current: 'monitor-switch-test-secret-0123456789abcdef', previous: [] },
      });
      try {
        const after = await sessions(shared);
        expect(after).toEqual(before);
        expect(after.some((row) => row.sessionId === DELETED_SESSION)).toBe(true);
        expect(await legacyMonitorProjects(shared.platform.duckdb)).toEqual([]);
        // Importing the same logs again through the shared server changes no total.
        const again = await shared.app.inject({
          method: 'POST',
          url: `/api/projects/${members.project.id}/monitor/imports`,
          headers: members.editor.headers,
          payload: { path: logs },
        });
        expect(again.statusCode).toBe(200);
        expect(await sessions(shared)).toEqual(before);
      } finally {
        await shared.close();
      }
    });
  },
);
