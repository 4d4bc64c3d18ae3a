import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestStorage,
  openTestPlatform,
  type TestPlatform,
  type TestStorage,
  testBackends,
} from '../../test/test-platform.ts';
import { createAuditRecorder } from '../audit/audit-service.ts';
import { listAuditRows } from '../audit/audit-store.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createProjectService } from '../projects/project-service.ts';
import { findThrottles, recordThrottleFailure } from './login-throttle-store.ts';
import { findSessionByTokenHash, insertSession, revokeOtherSessions } from './session-store.ts';
import { systemActor } from './system-actor.ts';
import { insertUser } from './user-store.ts';

/** The stores and the database invariants, on PGlite and (with DATABASE_URL) PostgreSQL. */
describe.each(testBackends())('account and project stores on %s', (backend) => {
  let storage: TestStorage;
  let platform: TestPlatform;
  beforeAll(async () => {
    storage = await createTestStorage(backend);
    platform = await openTestPlatform(storage);
  });
  afterAll(async () => {
    await platform?.close();
    await storage?.dispose();
  });

  const newUser = (email = `u-${uuidv7()}@example.test`) =>
    insertUser(platform.database.db, {
      id: uuidv7(),
      email,
      display_name: '',
      password_hash: 'scrypt$10$8$1$x$y',
      is_admin: false,
      now: new Date(),
    });

  it('keeps e-mail addresses unique and lower-case', async () => {
    await newUser('same@example.test');
    await expect(newUser('same@example.test')).rejects.toMatchObject({ code: '23505' });
    await expect(newUser('Upper@example.test')).rejects.toMatchObject({ code: '23514' });
  });

  it('finds a session by its token hash and revokes the others', async () => {
    const db = platform.database.db;
    const user = await newUser();
    const now = new Date();
    const ids = [uuidv7(), uuidv7()];
    for (const [index, id] of ids.entries()) {
      await insertSession(db, {
        id,
        user_id: user.id,
        token_hash: `hash-${id}-${index}`,
        expires_at: new Date(now.getTime() + 60_000),
        ip: null,
        user_agent: null,
        now,
      });
    }
    const found = await findSessionByTokenHash(db, `hash-${ids[0]}-0`);
    expect(found?.session.id).toBe(ids[0]);
    expect(found?.user.email).toBe(user.email);
    expect(await revokeOtherSessions(db, user.id, ids[0], now)).toBe(1);
    expect(
      (await findSessionByTokenHash(db, `hash-${ids[1]}-1`))?.session.revoked_at,
    ).not.toBeNull();
    expect((await findSessionByTokenHash(db, `hash-${ids[0]}-0`))?.session.revoked_at).toBeNull();
  });

  it('counts failures in one statement, forgets old ones and locks at the threshold', async () => {
    const db = platform.database.db;
    const key = `account:${uuidv7()}`;
    const t0 = new Date('2026-01-01T00:00:00Z');
    const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
    const fail = (seconds: number) =>
      recordThrottleFailure(db, key, at(seconds), 60_000, 3, 300_000);
    expect((await fail(0)).failures).toBe(1);
    expect((await fail(10)).failures).toBe(2);
    // Older than the window: forgotten, counting starts again.
    expect((await fail(100)).failures).toBe(1);
    await fail(101);
    const locked = await fail(102);
    expect(locked.failures).toBe(0);
    expect(new Date(locked.locked_until!).getTime()).toBe(at(102).getTime() + 300_000);
    // Concurrent failures are all counted.
    const other = `ip:${uuidv7()}`;
    await Promise.all(
      Array.from({ length: 5 }, () => recordThrottleFailure(db, other, t0, 60_000, 100, 1_000)),
    );
    expect((await findThrottles(db, [other]))[0]?.failures).toBe(5);
  });

  it('keeps an owner on every live project, deleted projects aside', async () => {
    const db = platform.database.db;
    const projects = createProjectService({ db, audit: createAuditRecorder() });
    const owner = await newUser();
    const project = await projects.createProject(
      { ...systemActor(), userId: owner.id, isAdmin: false, via: 'session' },
      { name: 'Invariant', description: '' },
    );
    await expect(
      sql`delete from project_member where project_id = ${project.id}`.execute(db),
    ).rejects.toMatchObject({ code: '23514' });
    await sql`update project set deleted_at = now() where id = ${project.id}`.execute(db);
    await sql`delete from project_member where project_id = ${project.id}`.execute(db);
  });

  it('stores audit summaries as JSON and reads them back newest first', async () => {
    const db = platform.database.db;
    const audit = createAuditRecorder();
    const projectId = uuidv7();
    await audit.record(db, {
      actor: systemActor(),
      action: 'test.first',
      entityType: 'thing',
      projectId,
      summary: { n: 1, nested: { apiKey: 'sk-should-not-survive' } },
    });
    await audit.record(db, {
      actor: undefined,
      action: 'test.second',
      entityType: 'thing',
      projectId,
    });
    const rows = await listAuditRows(db, { projectId, limit: 10 });
    expect(rows.map((row) => row.action)).toEqual(['test.second', 'test.first']);
    expect(rows[1]?.summary).toEqual({ n: 1, nested: { apiKey: '[redacted]' } });
    expect(rows[1]).toMatchObject({ actor_via: 'system', actor_user_id: null });
    expect(rows[0]).toMatchObject({ actor_via: 'anonymous', request_id: null });
  });
});
