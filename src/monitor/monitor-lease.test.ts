import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { createTestApp, type TestApp, testBackends } from '../../test/test-platform.ts';
import { createIngestLeases } from './monitor-lease.ts';
import { writeClaudeProjects } from './monitor-test-helpers.ts';

// Two servers on one PostgreSQL are two holders of the lease table: a second lease object with
// another holder name stands for the other server.
describe.each(testBackends())('monitor ingestion lease on %s', (backend) => {
  let t: TestApp;
  let team: ProjectWithMembers;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-lease-'));

  beforeAll(async () => {
    t = await createTestApp({ backend, startJobs: false });
    team = await createProjectWithMembers(t);
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Two servers' leases on the team's project: the first takes it, the second is refused. */
  async function heldByFirst(first: string, second: string) {
    const db = t.platform.database.db;
    const projectId = team.project.id;
    const held = {
      first: createIngestLeases(db, { holder: first }),
      second: createIngestLeases(db, { holder: second }),
    };
    expect(await held.first.acquire(projectId)).toBe(true);
    expect(await held.second.acquire(projectId)).toBe(false);
    return { ...held, projectId, db };
  }

  it('is held by one holder at a time, taken again by its holder, free once released', async () => {
    const { first: a, second: b, projectId } = await heldByFirst('server-a', 'server-b');
    expect(await a.acquire(projectId)).toBe(true);
    expect(await b.renew(projectId)).toBe(false);
    expect(await a.renew(projectId)).toBe(true);
    await b.release(projectId); // not b's: nothing happens
    expect((await a.find(projectId))?.holder).toBe('server-a');
    await a.release(projectId);
    expect(await a.find(projectId)).toBeUndefined();
    expect(await b.acquire(projectId)).toBe(true);
    await b.release(projectId);
  });

  it("is taken over once the holder's lease has expired (a server that died)", async () => {
    const held = await heldByFirst('server-dead', 'server-alive');
    const { first: dead, second: alive, projectId, db } = held;
    // Its heartbeats stopped a while ago (the database's clock decides).
    await sql`update monitor_ingest_lease set expires_at = now() - interval '1 second'
      where project_id = ${projectId}`.execute(db);
    expect(await alive.acquire(projectId)).toBe(true);
    expect(await dead.renew(projectId)).toBe(false);
    await alive.release(projectId);
  });

  it('an import finding the lease held by another server answers CONFLICT and writes nothing', async () => {
    const { projects } = writeClaudeProjects(path.join(dir, backend));
    const other = createIngestLeases(t.platform.database.db, { holder: 'another-server' });
    const projectId = team.project.id;
    expect(await other.acquire(projectId)).toBe(true);
    await expect(
      t.app.monitor.importLocalPath(team.owner.actor, projectId, {
        path: projects,
        source: 'auto',
      }),
    ).rejects.toMatchObject({ code: 'CONFLICT', retryable: true });
    expect(await t.app.monitor.files(team.viewer.actor, projectId)).toEqual([]);

    await other.release(projectId);
    const result = await t.app.monitor.importLocalPath(team.owner.actor, projectId, {
      path: projects,
      source: 'auto',
    });
    expect(result).toMatchObject({ files: 3, usageEvents: 5 });
    // Given back after the import.
    expect(await other.find(projectId)).toBeUndefined();
    expect(await other.acquire(projectId)).toBe(true);
    await other.release(projectId);
  });
});
