import { describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { testAppPerSuite } from '../../../test/per-suite.ts';
import { closedPort, reachable, TEST_REDIS_URL } from '../../../test/test-redis.ts';

describe('a worker (BRAINCELLS_ROLE=worker)', () => {
  const t = testAppPerSuite({ config: { role: 'worker' } });

  it('serves /healthz, /readyz and /metrics', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toEqual({ postgres: 'ok', duckdb: 'ok', jobs: 'ok' });
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('http_request_duration_seconds');
  });

  it.each([
    ['GET', '/api/projects'],
    ['POST', '/api/auth/login'],
    ['GET', '/api/openapi.json'],
    ['GET', '/'],
  ])('answers %s %s with 404 in the error envelope, before authentication', async (method, url) => {
    const response = await t.app.inject({ method: method as 'GET', url });
    expect(response.statusCode).toBe(404);
    expect(response.json().error).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('BRAINCELLS_ROLE=worker'),
      requestId: expect.any(String),
    });
  });
});

describe('an api server (BRAINCELLS_ROLE=api)', () => {
  const t = testAppPerSuite({ config: { role: 'api', jobsEnabled: false } });

  it('serves the API', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/projects' });
    // Served (and refused for want of a session), not hidden as on a worker.
    expect(response.statusCode).toBe(401);
    expect(response.json().error.code).toBe('UNAUTHENTICATED');
  });
});

describe.skipIf(!(await reachable(TEST_REDIS_URL)))('/readyz with REDIS_URL', () => {
  const t = testAppPerSuite({ config: { redis: { url: TEST_REDIS_URL, caFile: undefined } } });

  it('reports Redis among its checks once connected', async () => {
    const ready = await eventually(
      () => t.app.inject({ method: 'GET', url: '/readyz' }),
      (response) => response.statusCode === 200,
      { what: '/readyz 200' },
    );
    expect(ready.json().checks).toEqual({ postgres: 'ok', duckdb: 'ok', jobs: 'ok', redis: 'ok' });
  });
});

describe('/readyz when Redis does not answer', async () => {
  const port = await closedPort();
  const t = testAppPerSuite({
    config: { redis: { url: `redis://127.0.0.1:${port}`, caFile: undefined } },
  });

  it('is not ready, naming redis, while the rest of the API serves', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json().error).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      retryable: true,
      details: { failed: ['redis'] },
    });
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
