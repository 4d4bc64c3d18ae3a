import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestApp, type TestApp } from '../test/test-platform.ts';

describe('HTTP platform', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      config: { bodyLimit: 2048 },
      configure: (app) => {
        app.post(
          '/test/items',
          {
            // Test-only routes are public so these checks reach validation and the handler.
            config: { public: true },
            schema: {
              body: z.object({
                name: z.string().min(1).max(200),
                tags: z.array(z.string().max(10)).max(3).optional(),
              }),
              querystring: z.object({ dryRun: z.enum(['true', 'false']).optional() }),
            },
          },
          async (request) => ({ ok: true, name: request.body.name }),
        );
        app.get('/test/boom', { config: { public: true } }, async () => {
          throw new Error('relation "secret_table" does not exist at /srv/app/src/x.ts:12');
        });
      },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  /** POST /test/items, the route the tests add; a string payload goes as is, in `contentType`. */
  const postItem = (payload: string | object, contentType?: string) =>
    t.app.inject({
      method: 'POST',
      url: '/test/items',
      ...(contentType ? { headers: { 'content-type': contentType } } : {}),
      payload,
    });

  it('answers /healthz', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with every check', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', duckdb: 'ok', jobs: 'ok' },
    });
  });

  it('echoes a caller request id and makes one otherwise', async () => {
    const given = await t.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'trace-42' },
    });
    expect(given.headers['x-request-id']).toBe('trace-42');
    const made = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await t.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'a b\u0001<script>' },
    });
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('puts the request id on every log line of a request', async () => {
    await t.app.inject({
      method: 'GET',
      url: '/test/boom',
      headers: { 'x-request-id': 'log-check-1' },
    });
    const lines = t.platform.logs.lines.filter((line) => line.requestId === 'log-check-1');
    expect(lines.length).toBeGreaterThanOrEqual(2); // the error and the completion line
    expect(
      lines.some((line) => line.msg === 'request completed' || line.msg === 'request failed'),
    ).toBe(true);
  });

  it('answers an unknown API route with the envelope', async () => {
    // Outside /api, unknown GET paths are the web app's client-side routes (web-assets.ts).
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/nope?x=1',
      headers: { 'x-request-id': 'r-404' },
    });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: 'No route GET /api/nope',
        retryable: false,
        requestId: 'r-404',
      },
    });
  });

  it('names a failing query parameter', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/test/items?dryRun=maybe',
      payload: { name: 'fine' },
    });
    expect(response.statusCode).toBe(400);
    const { error } = response.json();
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(error.retryable).toBe(false);
    const paths = error.details.issues.map((issue: { path: string }) => issue.path);
    expect(paths).toContain('querystring.dryRun');
  });

  it('names nested body fields', async () => {
    const response = await postItem({ name: '', tags: ['ok', 'much-too-long-tag'] });
    expect(response.statusCode).toBe(400);
    const paths = response.json().error.details.issues.map((issue: { path: string }) => issue.path);
    expect(paths).toEqual(expect.arrayContaining(['body.name', 'body.tags.1']));
  });

  it('refuses malformed JSON with 400', async () => {
    const response = await postItem('{"name": ', 'application/json');
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({
      code: 'VALIDATION_ERROR',
      message: 'Request body is not valid JSON',
    });
  });

  it('refuses a body over the limit with 413', async () => {
    const response = await postItem({ name: 'x'.repeat(4096) });
    expect(response.statusCode).toBe(413);
    expect(response.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses an unsupported content type with 415', async () => {
    const response = await postItem('name=x', 'application/x-weird');
    expect(response.statusCode).toBe(415);
    expect(response.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('hides internals of an unexpected error and logs them', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/test/boom' });
    expect(response.statusCode).toBe(500);
    const body = response.body;
    expect(response.json().error).toMatchObject({
      code: 'INTERNAL',
      message: 'Internal server error',
    });
    for (const leak of ['secret_table', '/srv/app', 'relation', 'at ', '.ts:']) {
      expect(body).not.toContain(leak);
    }
    expect(t.platform.logs.text()).toContain('secret_table');
  });

  it('exports Prometheus metrics with route-level durations and queue depth', async () => {
    await t.app.inject({ method: 'GET', url: '/healthz' });
    const response = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    expect(response.body).toMatch(
      /braincells_http_request_duration_seconds_count\{method="GET",route="\/healthz",status_code="200"\} \d+/,
    );
    expect(response.body).toContain('braincells_process_resident_memory_bytes');
    expect(response.body).toContain('# TYPE braincells_job_queue_depth gauge');
    // Unmatched URLs share one label value, so scanning cannot blow up cardinality.
    await t.app.inject({ method: 'GET', url: '/api/random-1' });
    await t.app.inject({ method: 'GET', url: '/api/random-2' });
    const again = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(again.body).not.toContain('random-1');
    expect(again.body).toContain('route="unmatched"');
  });

  it('serves the OpenAPI description and a docs page', async () => {
    const spec = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(spec.statusCode).toBe(200);
    const document = spec.json();
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz']));
    const docs = await t.app.inject({ method: 'GET', url: '/api/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
  });
});

describe('readiness when storage fails', () => {
  it('answers 503 naming what failed', async () => {
    const t = await createTestApp();
    try {
      await t.platform.duckdb.close();
      const response = await t.app.inject({ method: 'GET', url: '/readyz' });
      expect(response.statusCode).toBe(503);
      const { error } = response.json();
      expect(error.code).toBe('SERVICE_UNAVAILABLE');
      expect(error.details).toEqual({ failed: ['duckdb'] });
      expect(error.message).toContain('duckdb');
    } finally {
      await t.close();
    }
  });
});
