import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import {
  createSecondServer,
  createTestApp,
  type TestApp,
  testBackends,
} from '../../test/test-platform.ts';
import {
  FORWARDED_IDENTITY_HEADER,
  forwardingKey,
  signForwardedIdentity,
} from '../platform/datasets/dataset-forwarding.ts';
import { createSharedMonitorFiles, monitorFilePath, monitorLeaseKey } from './monitor-files.ts';
import { writeClaudeProjects } from './monitor-test-helpers.ts';

const SECRET = 'monitor-files-test-secret-0123456789abcdef';

describe('monitor lease keys', () => {
  it('are UUIDs of their own: stable per project, never the project id, distinct per project', () => {
    const a = '0193a000-0000-7000-8000-000000000001';
    const b = '0193a000-0000-7000-8000-000000000002';
    expect(monitorLeaseKey(a)).toBe(monitorLeaseKey(a));
    expect(monitorLeaseKey(a)).not.toBe(monitorLeaseKey(b));
    expect(monitorLeaseKey(a)).not.toBe(a);
    expect(monitorLeaseKey(a)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});

// Two holders of the lease table stand for two servers; each server's clock is its own.
describe.each(testBackends())('a monitor file changing hands (%s)', (backend) => {
  let t: TestApp;
  let dir: string;
  const TTL = 9_000;
  beforeAll(async () => {
    t = await createTestApp({ backend, startJobs: false });
    dir = mkdtempSync(path.join(os.tmpdir(), 'bc-monitor-files-'));
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const server = (
    serverId: string,
    clock: { now: number },
    bound: { maxOpen?: number; idleMs?: number } = {},
  ) =>
    createSharedMonitorFiles({
      database: t.platform.database,
      dir,
      serverId,
      internalUrl: () => `http://${serverId}.internal`,
      ttlMs: TTL,
      logger: t.platform.logger,
      now: () => clock.now,
      ...bound,
    });

  const leaseOwner = async (projectId: string) =>
    (
      await sql<{ owner_id: string }>`select owner_id from dataset_lease
        where dataset_id = ${monitorLeaseKey(projectId)}`.execute(t.platform.database.db)
    ).rows[0]?.owner_id;

  it('keeps at most maxOpen files open: closes the least recently used idle one and gives its lease up, never a held or recently used one', async () => {
    const serverId = '0193a000-0000-7000-8000-00000000000c';
    const [p1, p2, p3] = [
      '0193a000-0000-7000-8000-0000000000b1',
      '0193a000-0000-7000-8000-0000000000b2',
      '0193a000-0000-7000-8000-0000000000b3',
    ];
    const clock = { now: Date.now() };
    const files = server(serverId, clock, { maxOpen: 2, idleMs: 1_000 });
    const isOpen = async (projectId: string) => (await files.ifOpen(projectId)) !== undefined;
    try {
      await files.open(p1);
      await files.open(p2);
      const releaseP2 = files.hold(p2); // an import under way
      clock.now += 2_000;
      // A third: p1 is idle and not held, so it goes (file closed, lease given up); p2 is held.
      await files.open(p3);
      await files.closingsSettled();
      expect([await isOpen(p1), await isOpen(p2), await isOpen(p3)]).toEqual([false, true, true]);
      expect(await leaseOwner(p1)).toBeUndefined();
      expect(await leaseOwner(p2)).toBe(serverId);

      // Used half a second ago: not idle, so a third file stays open past the bound (soft).
      clock.now += 500;
      releaseP2();
      await (await files.open(p3)).duckdb.query('select 1');
      clock.now += 500;
      const reopened = await files.open(p1);
      await files.closingsSettled();
      expect([await isOpen(p1), await isOpen(p2), await isOpen(p3)]).toEqual([true, true, true]);
      // Its rows come back with it: the tables were made in the file and are read again.
      expect(await reopened.store.files(p1)).toEqual([]);

      // Later, a hold released (an import done) closes the oldest idle one: p2, then p3 stays.
      clock.now += 2_000;
      files.hold(p1)();
      await files.closingsSettled();
      expect([await isOpen(p1), await isOpen(p2), await isOpen(p3)]).toEqual([true, false, true]);
      expect(await leaseOwner(p2)).toBeUndefined();
      expect(await leaseOwner(p3)).toBe(serverId);

      // A call under way on an idle-looking file keeps it open: p3's connection is lent out
      // while p2 comes back and the clock has passed the idle time.
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => {
        finish = resolve;
      });
      let started!: () => void;
      const lent = new Promise<void>((resolve) => {
        started = resolve;
      });
      const call = (await files.open(p3)).duckdb.withConnection(async () => {
        started();
        await finished;
      });
      await lent;
      clock.now += 2_000;
      files.hold(p1)(); // p1 is the most recent; p3 the least, but busy
      await files.open(p2);
      await files.closingsSettled();
      expect(await isOpen(p3)).toBe(true);
      finish();
      await call;
    } finally {
      await files.close();
    }
  });

  it('a holder past its deadline stops writing; the next holder waits for its file to close, then reads what it wrote', async () => {
    const projectId = '0193a000-0000-7000-8000-0000000000aa';
    const clockA = { now: Date.now() };
    const clockB = { now: Date.now() };
    const a = server('0193a000-0000-7000-8000-00000000000a', clockA);
    const b = server('0193a000-0000-7000-8000-00000000000b', clockB);
    try {
      const held = await a.open(projectId);
      await held.duckdb.run('create table fence_probe (v integer)');
      await held.duckdb.run('insert into fence_probe values (1)');
      expect(await b.holderElsewhere(projectId)).toEqual({
        serverId: '0193a000-0000-7000-8000-00000000000a',
        url: 'http://0193a000-0000-7000-8000-00000000000a.internal',
      });
      await expect(b.open(projectId)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

      // A's heartbeats stopped: past two thirds of the TTL it refuses to write…
      clockA.now += TTL;
      await expect(held.duckdb.run('insert into fence_probe values (2)')).rejects.toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
      });
      // …and once the row has expired B takes the file over and reads A's committed row only.
      clockB.now += TTL + 1_000;
      await sql`update dataset_lease set expires_at = now() - interval '1 second'
        where dataset_id = ${monitorLeaseKey(projectId)}`.execute(t.platform.database.db);
      const taken = await b.open(projectId);
      expect(await taken.duckdb.query('select v from fence_probe')).toEqual([{ v: 1 }]);
      expect(await a.holderElsewhere(projectId)).toMatchObject({
        serverId: '0193a000-0000-7000-8000-00000000000b',
      });
    } finally {
      await b.close();
      await a.close();
    }
  });
});

// Two whole servers on one PostgreSQL and one shared storage folder (issue 20 item 6): an
// import through one is what the other reads.
describe.each(testBackends().filter((backend) => backend === 'postgres'))(
  "a project's monitor data across two servers (%s)",
  (backend) => {
    let first: TestApp;
    let second: TestApp;
    let secondClosed = false;
    let shared: string;
    let logs: string;
    let members: ProjectWithMembers;
    let base: string;

    beforeAll(async () => {
      shared = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'bc-monitor-shared-')));
      logs = path.join(shared, 'logs');
      mkdirSync(logs);
      writeClaudeProjects(logs);
      const config = {
        secret: { current: SECRET, previous: [] },
        storageDir: shared,
        monitor: { roots: [logs] },
      };
      first = await createTestApp({ backend, config, startJobs: false });
      await first.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = first.app.server.address() as AddressInfo;
      first.platform.config.datasets.internalUrl = `http://127.0.0.1:${port}`;
      second = await createSecondServer(first, { config, startJobs: false });
      await second.app.listen({ host: '127.0.0.1', port: 0 });
      const secondPort = (second.app.server.address() as AddressInfo).port;
      second.platform.config.datasets.internalUrl = `http://127.0.0.1:${secondPort}`;
      members = await createProjectWithMembers(first);
      base = `/api/projects/${members.project.id}/monitor`;
    });
    afterAll(async () => {
      if (!secondClosed) await second?.close();
      await first?.close();
      rmSync(shared, { recursive: true, force: true });
    });

    const holder = async () =>
      (
        await sql<{ owner_id: string }>`select owner_id from dataset_lease
          where dataset_id = ${monitorLeaseKey(members.project.id)}`.execute(
          first.platform.database.db,
        )
      ).rows[0]?.owner_id;
    const sessions = async (server: TestApp, headers = members.viewer.headers) => {
      const response = await server.app.inject({ method: 'GET', url: `${base}/sessions`, headers });
      expect(response.statusCode).toBe(200);
      return response.json().items as { sessionKey: string; tokens: unknown; costUsd: unknown }[];
    };

    /** `POST …/imports` of the logs folder through `server`. */
    const importThrough = (server: TestApp, headers: Record<string, string>) =>
      server.app.inject({
        method: 'POST',
        url: `${base}/imports`,
        headers,
        payload: { path: logs },
      });

    it('an import through one server is read through the other, forwarded with the caller and request id', async () => {
      const imported = await importThrough(second, members.editor.headers);
      expect(imported.statusCode).toBe(200);
      expect(imported.json()).toMatchObject({ files: 3, sessions: 3 });
      // The project's own file under the shared root, held by the server that imported.
      expect(existsSync(monitorFilePath(path.join(shared, 'monitor'), members.project.id))).toBe(
        true,
      );
      expect(await holder()).toBe(second.platform.datasetLeases.serverId);

      const viaSecond = await sessions(second);
      expect(viaSecond.length).toBeGreaterThanOrEqual(3);
      const viaFirst = await first.app.inject({
        method: 'GET',
        url: `${base}/sessions`,
        headers: { ...members.viewer.headers, 'x-request-id': 'monitor-forwarded-1' },
      });
      expect(viaFirst.statusCode).toBe(200);
      expect(viaFirst.headers['x-request-id']).toBe('monitor-forwarded-1');
      expect(viaFirst.json().items).toEqual(viaSecond);
      // The holder served it, under the same request id; the first never claimed the file.
      expect(
        second.platform.logs.lines.some(
          (line) => line.requestId === 'monitor-forwarded-1' && line.status === 200,
        ),
      ).toBe(true);
      expect(await holder()).toBe(second.platform.datasetLeases.serverId);

      // Roles are still checked by the holder for the forwarded caller: a viewer may not import.
      const refused = await importThrough(first, members.viewer.headers);
      expect(refused.statusCode).toBe(403);
      // A re-import through the first server changes no total.
      const again = await importThrough(first, members.editor.headers);
      expect(again.statusCode).toBe(200);
      expect(await sessions(first)).toEqual(viaSecond);
    });

    it('answers 401 to a forged forwarded identity on a monitor route, reading nothing', async () => {
      const url = `${base}/sessions`;
      const identity = {
        actor: members.owner.actor,
        method: 'GET',
        url,
        expiresAt: Date.now() + 20_000,
      };
      for (const header of [
        Buffer.from(JSON.stringify(identity)).toString('base64url'),
        signForwardedIdentity(forwardingKey('not-this-deployment-0123456789abcdef'), identity),
        signForwardedIdentity(forwardingKey(SECRET), { ...identity, url: `${base}/files` }),
      ]) {
        const response = await second.app.inject({
          method: 'GET',
          url,
          headers: { [FORWARDED_IDENTITY_HEADER]: header },
        });
        expect(response.statusCode).toBe(401);
        expect(response.json().error.code).toBe('UNAUTHENTICATED');
      }
    });

    it('a monitor.reprice job picked up by the server not holding the file is done by the holder, not failed', async () => {
      expect(await holder()).toBe(second.platform.datasetLeases.serverId);
      const projectId = members.project.id;
      // What the holder reads for the model: the job on the other server must read the same.
      const [model] = await first.app
        .inject({
          method: 'GET',
          url: `${base}/models`,
          headers: members.viewer.headers,
        })
        .then((response) => response.json().items as { model: string }[]);
      expect(model).toBeDefined();
      const here = await second.app.monitor.repriceJob({ projectId, model: model!.model });
      expect(here.events).toBeGreaterThan(0);
      // The first server asks the holder and returns its answer; it never claims the file.
      expect(await first.app.monitor.repriceJob({ projectId, model: model!.model })).toEqual(here);
      expect(await holder()).toBe(second.platform.datasetLeases.serverId);
      // The holder's internal route refuses a caller that is not a server of this deployment.
      const forged = await second.app.inject({
        method: 'POST',
        url: `/api/internal/monitor/${projectId}/reprice`,
        payload: { model: model!.model },
      });
      expect(forged.statusCode).toBe(401);
    });

    it('once the holder stops, the other server takes the file over and reads the same totals', async () => {
      const before = await sessions(first);
      secondClosed = true;
      await second.close();
      expect(await holder()).toBeUndefined();
      expect(await sessions(first)).toEqual(before);
      expect(await holder()).toBe(first.platform.datasetLeases.serverId);
    });
  },
);
