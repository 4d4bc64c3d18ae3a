import { randomInt } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSignedInUser } from '../../../test/factories.ts';
import { testAppPerSuite } from '../../../test/per-suite.ts';
import { createTestApp, type TestApp } from '../../../test/test-platform.ts';
import { reachable, TEST_REDIS_URL } from '../../../test/test-redis.ts';

const REDIS_URL = TEST_REDIS_URL;

/** A documentation-range address of its own, so runs and tests never share a counter. */
const freshIp = () => `198.18.${randomInt(0, 255)}.${randomInt(1, 254)}`;

function expectLimited(response: LightMyRequestResponse) {
  expect(response.statusCode).toBe(429);
  expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
  expect(response.json().error).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
}

describe('rate limits (in-process counters)', () => {
  const t = testAppPerSuite({
    config: { rateLimit: { perIp: 3, perUser: 4, auth: 2, redisUrl: undefined } },
  });

  it('limits each IP address on every route, credentials or not', async () => {
    const ip = freshIp();
    for (let i = 0; i < 3; i++) {
      expect(
        (await t.app.inject({ method: 'GET', url: '/api/projects', remoteAddress: ip })).statusCode,
      ).toBe(401);
    }
    expectLimited(await t.app.inject({ method: 'GET', url: '/api/projects', remoteAddress: ip }));
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/projects', remoteAddress: freshIp() }))
        .statusCode,
    ).toBe(401);
  });

  it('limits each user across addresses', async () => {
    const session = await createSignedInUser(t);
    for (let i = 0; i < 4; i++) {
      const response = await t.app.inject({
        method: 'GET',
        url: '/api/auth/me',
        headers: session.headers,
        remoteAddress: freshIp(),
      });
      expect(response.statusCode).toBe(200);
    }
    expectLimited(
      await t.app.inject({
        method: 'GET',
        url: '/api/auth/me',
        headers: session.headers,
        remoteAddress: freshIp(),
      }),
    );
    // Someone else is not affected.
    const other = await createSignedInUser(t);
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: '/api/auth/me',
          headers: other.headers,
          remoteAddress: freshIp(),
        })
      ).statusCode,
    ).toBe(200);
  });

  it('is stricter on sign-in routes', async () => {
    const ip = freshIp();
    const attempt = () =>
      t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: ip,
        payload: { email: 'nobody@example.test', password: 'not a password' },
      });
    expect((await attempt()).statusCode).toBe(401);
    expect((await attempt()).statusCode).toBe(401);
    expectLimited(await attempt());
  });
});

describe.skipIf(!(await reachable(REDIS_URL)))('rate limits shared through Redis', () => {
  let first: TestApp;
  let second: TestApp;
  beforeAll(async () => {
    const config = { rateLimit: { perIp: 4, perUser: 1000, auth: 1000, redisUrl: REDIS_URL } };
    [first, second] = await Promise.all([createTestApp({ config }), createTestApp({ config })]);
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
  });

  it('counts one budget across servers', async () => {
    const ip = freshIp();
    const hit = (t: TestApp) => t.app.inject({ method: 'GET', url: '/healthz', remoteAddress: ip });
    expect((await hit(first)).statusCode).toBe(200);
    expect((await hit(second)).statusCode).toBe(200);
    expect((await hit(first)).statusCode).toBe(200);
    const fourth = await hit(second);
    expect(fourth.statusCode).toBe(200);
    expect(fourth.headers['x-ratelimit-remaining']).toBe('0');
    expectLimited(await hit(first));
    expectLimited(await hit(second));
    expect(
      (await first.app.inject({ method: 'GET', url: '/healthz', remoteAddress: freshIp() }))
        .statusCode,
    ).toBe(200);
  });
});

describe('rate limits when Redis is unreachable', () => {
  it('let requests through (logged) instead of failing the API', async () => {
    const t = await createTestApp({
      config: {
        rateLimit: { perIp: 2, perUser: 1000, auth: 1000, redisUrl: 'redis://127.0.0.1:1' },
      },
    });
    try {
      for (let i = 0; i < 4; i++) {
        expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      }
      expect(t.platform.logs.text()).toContain('rate-limit store (Redis) unreachable');
    } finally {
      await t.close();
    }
  });
});
