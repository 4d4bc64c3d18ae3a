import type { InjectOptions } from 'fastify';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addMember,
  createApiKey,
  createProjectWithMembers,
  createSignedInUser,
  type ProjectWithMembers,
  type TestSession,
} from '../../test/factories.ts';
import { testAppPerSuite } from '../../test/per-suite.ts';
import type { Actor } from '../access/actor.ts';
import type { ProjectRole } from '../access/project-access.ts';
import { systemActor } from '../auth/system-actor.ts';
import type { AppError } from '../platform/app-error.ts';

type Role = 'viewer' | 'editor' | 'owner' | 'outsider';

describe('projects', () => {
  const t = testAppPerSuite();

  const call = (
    session: TestSession | { headers: Record<string, string> },
    method: string,
    url: string,
    payload?: unknown,
  ) =>
    t.app.inject({
      method: method as InjectOptions['method'],
      url,
      headers: session.headers,
      ...(payload === undefined ? {} : { payload: payload as InjectOptions['payload'] }),
    });

  it('creates a project with its creator as owner, lists, renames and deletes it', async () => {
    const owner = await createSignedInUser(t);
    const created = await call(owner, 'POST', '/api/projects', {
      name: '  Field study  ',
      description: 'Notes\nand more',
    });
    expect(created.statusCode).toBe(201);
    const project = created.json();
    expect(project).toMatchObject({
      name: 'Field study',
      description: 'Notes\nand more',
      role: 'owner',
    });

    const list = await call(owner, 'GET', '/api/projects');
    expect(list.json().items.map((p: { id: string }) => p.id)).toEqual([project.id]);

    const renamed = await call(owner, 'PATCH', `/api/projects/${project.id}`, {
      name: 'Field study 2',
    });
    expect(renamed.json()).toMatchObject({ id: project.id, name: 'Field study 2' });

    expect((await call(owner, 'DELETE', `/api/projects/${project.id}`)).statusCode).toBe(204);
    expect((await call(owner, 'GET', `/api/projects/${project.id}`)).statusCode).toBe(404);
    expect((await call(owner, 'GET', '/api/projects')).json().items).toEqual([]);

    const audit = await t.platform.database.db
      .selectFrom('audit_log')
      .select(['action', 'request_id', 'actor_user_id'])
      .where('project_id', '=', project.id)
      .orderBy('id')
      .execute();
    expect(audit.map((entry) => entry.action)).toEqual([
      'project.create',
      'project.update',
      'project.delete',
    ]);
    expect(audit.every((entry) => entry.request_id && entry.actor_user_id === owner.user.id)).toBe(
      true,
    );
  });

  it.each([
    [{ name: '' }, 'body.name'],
    [{ name: 'x'.repeat(201) }, 'body.name'],
    [{ name: 'tab\there' }, 'body.name'],
    [{ name: 'ok', description: 'x'.repeat(2001) }, 'body.description'],
    [{ name: 'ok', owner: 'me' }, 'body'],
  ])('refuses %j naming %s, writing nothing', async (payload, path) => {
    const owner = await createSignedInUser(t);
    const response = await call(owner, 'POST', '/api/projects', payload);
    expect(response.statusCode).toBe(400);
    const paths = response.json().error.details.issues.map((issue: { path: string }) => issue.path);
    expect(paths.some((p: string) => p.startsWith(path))).toBe(true);
    expect((await call(owner, 'GET', '/api/projects')).json().items).toEqual([]);
  });

  describe('role matrix', () => {
    let world: ProjectWithMembers;
    beforeAll(async () => {
      world = await createProjectWithMembers(t);
    });
    const sessionFor = (role: Role) => world[role];

    // [method, url, body, the weakest role allowed]
    const cases: [string, (p: string, w: ProjectWithMembers) => string, unknown, Role][] = [
      ['GET', (p) => `/api/projects/${p}`, undefined, 'viewer'],
      ['GET', (p) => `/api/projects/${p}/members`, undefined, 'viewer'],
      ['PATCH', (p) => `/api/projects/${p}`, { description: 'changed' }, 'owner'],
      ['GET', (p) => `/api/projects/${p}/audit`, undefined, 'owner'],
      [
        'POST',
        (p) => `/api/projects/${p}/members`,
        { email: 'nobody@example.test', role: 'viewer' },
        'owner',
      ],
      [
        'PATCH',
        (p, w) => `/api/projects/${p}/members/${w.viewer.user.id}`,
        { role: 'viewer' },
        'owner',
      ],
    ];
    const rank: Record<Role, number> = { outsider: -1, viewer: 0, editor: 1, owner: 2 };

    for (const [method, url, body, minimum] of cases) {
      for (const role of ['outsider', 'viewer', 'editor', 'owner'] as Role[]) {
        const expected = role === 'outsider' ? 404 : rank[role] >= rank[minimum] ? 'ok' : 403;
        it(`${method} ${url(':projectId', { viewer: { user: { id: ':userId' } } } as ProjectWithMembers)} as ${role} → ${expected}`, async () => {
          const response = await call(sessionFor(role), method, url(world.project.id, world), body);
          if (expected === 'ok') {
            // Allowed: past the access check. (Adding an unknown e-mail then answers "user not found".)
            if (response.statusCode === 404)
              expect(response.json().error.message).toBe('user not found');
            else expect([200, 201]).toContain(response.statusCode);
          } else {
            expect(response.statusCode).toBe(expected);
          }
          if (role === 'outsider') expect(response.body).not.toContain(world.project.name);
        });
      }
    }

    it('lets an editor not delete, and an owner delete, a project', async () => {
      const other = await createProjectWithMembers(t);
      // In this order: the owner's delete comes last (the others must find the project).
      const deletes = [
        [other.viewer, 403],
        [other.editor, 403],
        [other.outsider, 404],
        [other.owner, 204],
      ] as const;
      for (const [session, status] of deletes) {
        const response = await call(session, 'DELETE', `/api/projects/${other.project.id}`);
        expect(response.statusCode).toBe(status);
      }
    });

    it('answers the service contract the same way: requireRole', async () => {
      const access = t.app.services.access;
      /** The role granted, or the code of the refusal. */
      const answer = (actor: Actor, projectId: string, minimum: ProjectRole) =>
        access.requireRole(actor, projectId, minimum).catch((error: AppError) => error.code);
      const { viewer, editor, outsider, owner, project } = world;
      expect(await answer(viewer.actor, project.id, 'viewer')).toBe('viewer');
      expect(await answer(viewer.actor, project.id, 'editor')).toBe('FORBIDDEN');
      expect(await answer(editor.actor, project.id, 'editor')).toBe('editor');
      expect(await answer(outsider.actor, project.id, 'viewer')).toBe('NOT_FOUND');
      const missing = '00000000-0000-7000-8000-000000000000';
      expect(await answer(owner.actor, missing, 'viewer')).toBe('NOT_FOUND');
      expect(await answer(owner.actor, 'not-a-uuid', 'viewer')).toBe('NOT_FOUND');
      expect(await answer(systemActor(), project.id, 'owner')).toBe('owner');
    });

    it('limits API keys by scope on top of the role', async () => {
      const readKey = await createApiKey(t, world.owner, { scopes: ['read'] });
      const writeKey = await createApiKey(t, world.owner, { scopes: ['write'] });
      const adminKey = await createApiKey(t, world.owner, { scopes: ['admin'] });
      const access = t.app.services.access;
      await expect(access.requireRole(readKey.actor, world.project.id, 'viewer')).resolves.toBe(
        'owner',
      );
      await expect(
        access.requireRole(readKey.actor, world.project.id, 'editor'),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(access.requireRole(writeKey.actor, world.project.id, 'editor')).resolves.toBe(
        'owner',
      );
      await expect(
        access.requireRole(writeKey.actor, world.project.id, 'owner'),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(access.requireRole(adminKey.actor, world.project.id, 'owner')).resolves.toBe(
        'owner',
      );
      expect((await call(readKey, 'GET', `/api/projects/${world.project.id}`)).statusCode).toBe(
        200,
      );
      expect(
        (await call(writeKey, 'PATCH', `/api/projects/${world.project.id}`, { description: 'k' }))
          .statusCode,
      ).toBe(403);
      expect(
        (await call(adminKey, 'PATCH', `/api/projects/${world.project.id}`, { description: 'k' }))
          .statusCode,
      ).toBe(200);
      // A key of a non-member is still a non-member.
      const outsiderKey = await createApiKey(t, world.outsider, { scopes: ['admin'] });
      expect((await call(outsiderKey, 'GET', `/api/projects/${world.project.id}`)).statusCode).toBe(
        404,
      );
    });

    it('lets instance admins see and manage every project', async () => {
      const admin = await createSignedInUser(t, { isAdmin: true });
      const list = await call(admin, 'GET', '/api/projects');
      const seen = list.json().items.find((p: { id: string }) => p.id === world.project.id);
      expect(seen).toMatchObject({ name: world.project.name, role: null });
      expect((await call(admin, 'GET', `/api/projects/${world.project.id}/audit`)).statusCode).toBe(
        200,
      );
      // An admin's key without the admin scope is not an admin.
      const key = await createApiKey(t, admin, { scopes: ['write'] });
      expect((await call(key, 'GET', `/api/projects/${world.project.id}`)).statusCode).toBe(404);
    });
  });

  it('answers 404 for every object of project B to a member of project A', async () => {
    const a = await createProjectWithMembers(t, { name: 'Project A' });
    const b = await createProjectWithMembers(t, { name: 'Project B' });
    const intruder = a.owner; // owner of A, nothing in B
    const requests: [string, string, unknown?][] = [
      ['GET', `/api/projects/${b.project.id}`],
      ['PATCH', `/api/projects/${b.project.id}`, { name: 'pwned' }],
      ['DELETE', `/api/projects/${b.project.id}`],
      ['GET', `/api/projects/${b.project.id}/members`],
      [
        'POST',
        `/api/projects/${b.project.id}/members`,
        { email: intruder.user.email, role: 'owner' },
      ],
      ['PATCH', `/api/projects/${b.project.id}/members/${b.owner.user.id}`, { role: 'viewer' }],
      ['DELETE', `/api/projects/${b.project.id}/members/${b.owner.user.id}`],
      ['DELETE', `/api/projects/${b.project.id}/members/${intruder.user.id}`],
      ['GET', `/api/projects/${b.project.id}/audit`],
    ];
    for (const [method, url, payload] of requests) {
      const response = await call(intruder, method, url, payload);
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(response.json().error.code).toBe('NOT_FOUND');
      expect(response.body).not.toContain('Project B');
    }
    // The same answer as for a project that does not exist.
    const missing = await call(
      intruder,
      'GET',
      '/api/projects/01a20000-0000-7000-8000-000000000000',
    );
    expect(missing.json().error.message).toBe(
      (await call(intruder, 'GET', `/api/projects/${b.project.id}`)).json().error.message,
    );
    const list = await call(intruder, 'GET', '/api/projects');
    expect(list.json().items.map((p: { name: string }) => p.name)).toEqual(['Project A']);
    const unchanged = await call(b.owner, 'GET', `/api/projects/${b.project.id}/members`);
    expect(unchanged.json().items).toHaveLength(3);
  });

  describe('members', () => {
    it('adds, changes and removes members; members may leave', async () => {
      const world = await createProjectWithMembers(t);
      const newcomer = await createSignedInUser(t);
      const added = await call(world.owner, 'POST', `/api/projects/${world.project.id}/members`, {
        email: newcomer.user.email.toUpperCase(),
        role: 'editor',
      });
      expect(added.statusCode).toBe(201);
      expect(added.json()).toMatchObject({ userId: newcomer.user.id, role: 'editor' });
      const twice = await call(world.owner, 'POST', `/api/projects/${world.project.id}/members`, {
        email: newcomer.user.email,
        role: 'viewer',
      });
      expect(twice.statusCode).toBe(409);
      const changed = await call(
        world.owner,
        'PATCH',
        `/api/projects/${world.project.id}/members/${newcomer.user.id}`,
        { role: 'viewer' },
      );
      expect(changed.json().role).toBe('viewer');
      // Leaving needs no owner.
      const leave = await call(
        newcomer,
        'DELETE',
        `/api/projects/${world.project.id}/members/${newcomer.user.id}`,
      );
      expect(leave.statusCode).toBe(204);
      expect((await call(newcomer, 'GET', `/api/projects/${world.project.id}`)).statusCode).toBe(
        404,
      );
      // A viewer cannot remove someone else.
      const kick = await call(
        world.viewer,
        'DELETE',
        `/api/projects/${world.project.id}/members/${world.editor.user.id}`,
      );
      expect(kick.statusCode).toBe(403);
    });

    it('keeps at least one owner, in the service and in the database', async () => {
      const world = await createProjectWithMembers(t);
      const base = `/api/projects/${world.project.id}/members/${world.owner.user.id}`;
      const demote = await call(world.owner, 'PATCH', base, { role: 'editor' });
      expect(demote.statusCode).toBe(409);
      expect(demote.body).not.toMatch(/project_keeps_an_owner|trigger|exception/);
      expect((await call(world.owner, 'DELETE', base)).statusCode).toBe(409);
      // Even a direct write cannot orphan a live project.
      await expect(
        sql`update project_member set role = 'editor' where project_id = ${world.project.id}`.execute(
          t.platform.database.db,
        ),
      ).rejects.toThrow(/must keep an owner/);
      // With a second owner, the first may step down.
      await addMember(t, world.project, world.owner, await createSignedInUser(t), 'owner');
      expect((await call(world.owner, 'PATCH', base, { role: 'editor' })).statusCode).toBe(200);
    });

    it('answers 404 for an unknown e-mail and refuses a bad role', async () => {
      const world = await createProjectWithMembers(t);
      const unknown = await call(world.owner, 'POST', `/api/projects/${world.project.id}/members`, {
        email: 'nobody@nowhere.test',
        role: 'viewer',
      });
      expect(unknown.statusCode).toBe(404);
      const bad = await call(world.owner, 'POST', `/api/projects/${world.project.id}/members`, {
        email: world.outsider.user.email,
        role: 'emperor',
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.details.issues[0].path).toBe('body.role');
    });
  });

  describe('audit log', () => {
    it('shows a project owner every change with actor, request id and a redacted summary', async () => {
      const world = await createProjectWithMembers(t);
      await call(world.owner, 'PATCH', `/api/projects/${world.project.id}`, { description: 'v2' });
      await call(
        world.owner,
        'PATCH',
        `/api/projects/${world.project.id}/members/${world.viewer.user.id}`,
        {
          role: 'editor',
        },
      );
      const response = await call(world.owner, 'GET', `/api/projects/${world.project.id}/audit`);
      expect(response.statusCode).toBe(200);
      const items = response.json().items as {
        action: string;
        actor: { userId: string; email: string };
        requestId: string | null;
        summary: Record<string, unknown>;
      }[];
      expect(items.map((entry) => entry.action)).toEqual([
        'member.update',
        'project.update',
        'member.add',
        'member.add',
        'project.create',
      ]);
      expect(items[0]).toMatchObject({
        actor: { userId: world.owner.user.id, email: world.owner.user.email },
        summary: { from: 'viewer', to: 'editor' },
      });
      expect(items[0]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.body).not.toContain('"ip"');

      // Paging and filtering.
      const page = await call(
        world.owner,
        'GET',
        `/api/projects/${world.project.id}/audit?limit=2`,
      );
      expect(page.json().items).toHaveLength(2);
      const next = await call(
        world.owner,
        'GET',
        `/api/projects/${world.project.id}/audit?limit=2&before=${page.json().nextBefore}`,
      );
      expect(next.json().items.map((e: { action: string }) => e.action)).toEqual([
        'member.add',
        'member.add',
      ]);
      const filtered = await call(
        world.owner,
        'GET',
        `/api/projects/${world.project.id}/audit?action=project.update`,
      );
      expect(filtered.json().items).toHaveLength(1);
    });

    it('rolls the entry back with a failed change (one transaction)', async () => {
      const world = await createProjectWithMembers(t);
      const before = await t.platform.database.db
        .selectFrom('audit_log')
        .select('id')
        .where('project_id', '=', world.project.id)
        .execute();
      const refused = await call(
        world.owner,
        'DELETE',
        `/api/projects/${world.project.id}/members/${world.owner.user.id}`,
      );
      expect(refused.statusCode).toBe(409);
      const after = await t.platform.database.db
        .selectFrom('audit_log')
        .select('id')
        .where('project_id', '=', world.project.id)
        .execute();
      expect(after).toHaveLength(before.length);
    });
  });
});
