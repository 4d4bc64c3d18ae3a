import { randomUUID } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSignedInUser, type TestSession } from '../../test/factories.ts';
import {
  concrete,
  internalsIn,
  key,
  type Route,
  routesOf,
  routeTableAppPerFile,
} from './route-table-test-helpers.ts';

// What an error shows, on every route: the route table's other tests are in route-table.test.ts
// (two files, so that two workers share the time: this one sends nine requests to every route).
const t = routeTableAppPerFile();

describe('errors on every route', () => {
  let admin: TestSession;
  let routes: Route[];

  beforeAll(async () => {
    admin = await createSignedInUser(t, { isAdmin: true });
    routes = routesOf(t.app);
  });

  it('never shows SQL, stack traces or file paths in an error, whatever it is sent', async () => {
    const failures: string[] = [];
    const hostile = {
      name: "x'); drop table app_user; --",
      email: 'not-an-email',
      password: 'short',
      role: 'emperor',
      scopes: ['root'],
      code: '000000',
      token: '../../etc/passwd',
      projectId: "1' or '1'='1",
    };
    // Sign-out last: it ends the session the others use.
    const ordered = [...routes].sort(
      (a, b) => Number(a.url.endsWith('/logout')) - Number(b.url.endsWith('/logout')),
    );
    for (const route of ordered) {
      if (route.method === 'HEAD' || route.method === 'OPTIONS') continue;
      for (const param of [randomUUID, () => "1'%20or%20'1'='1", () => '%00%ff..%2f']) {
        for (const payload of [hostile, '{"broken json', undefined]) {
          const response = await t.app.inject({
            method: route.method as InjectOptions['method'],
            url: concrete(route.url, param),
            headers: {
              ...admin.headers,
              ...(typeof payload === 'string' ? { 'content-type': 'application/json' } : {}),
            },
            ...(payload === undefined || route.method === 'GET' ? {} : { payload }),
          });
          if (response.statusCode < 400) continue;
          const leak = internalsIn(response.body);
          if (leak)
            failures.push(
              `${key(route)} → ${response.statusCode} ${leak}: ${response.body.slice(0, 300)}`,
            );
          if (response.statusCode >= 500 && route.url.startsWith('/api/')) {
            failures.push(`${key(route)} → ${response.statusCode}: ${response.body.slice(0, 200)}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
  }, 180_000); // a hang guard: nine requests to every route (250+), slow on a loaded machine
});

describe('errors from the database', () => {
  it('become a plain 500 whose details only the log sees', async () => {
    const admin = await createSignedInUser(t, { isAdmin: true });
    // Only lines logged from here on: the tests above may have logged errors of their own.
    const logsBefore = t.platform.logs.lines.length;
    // Break the schema under a running app: every query on projects now fails in SQL. Put
    // back afterwards, so the app stays whole for whatever runs after.
    await t.platform.database.db.schema.alterTable('project').renameTo('project_gone').execute();
    try {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/projects',
        headers: admin.headers,
        payload: { name: 'x' },
      });
      expect(response.statusCode).toBe(500);
      expect(response.json().error).toMatchObject({
        code: 'INTERNAL',
        message: 'Internal server error',
      });
      expect(internalsIn(response.body)).toBeUndefined();
      // The log has the cause, without the query's parameter values.
      const logged = t.platform.logs.lines
        .slice(logsBefore)
        .find((line) => line.msg === 'Internal server error');
      expect(JSON.stringify(logged)).toContain('does not exist');
      expect(JSON.stringify(logged)).not.toContain(admin.user.id);
    } finally {
      await t.platform.database.db.schema.alterTable('project_gone').renameTo('project').execute();
    }
  });
});
