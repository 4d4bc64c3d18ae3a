import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, createSignedInUser } from '../../../test/factories.ts';
import { createTestApp, type TestApp } from '../../../test/test-platform.ts';

describe('security headers and CORS', () => {
  let closed: TestApp;
  let open: TestApp;
  beforeAll(async () => {
    [closed, open] = await Promise.all([
      createTestApp(),
      createTestApp({
        config: { corsOrigins: ['https://app.example.com'], remoteImages: false },
      }),
    ]);
  });
  afterAll(async () => {
    await closed?.close();
    await open?.close();
  });

  it('sends helmet defaults and a CSP that fits the single-page app', async () => {
    const response = await closed.app.inject({ method: 'GET', url: '/healthz' });
    const csp = String(response.headers['content-security-policy']);
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "object-src 'none'",
      "frame-ancestors 'none'",
      "connect-src 'self'",
      "base-uri 'self'",
    ]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    // Remote https: images (thumbnails) by default; the `open` app turns them off.
    expect(csp).toContain("img-src 'self' data: blob: https:");
    const strict = await open.app.inject({ method: 'GET', url: '/healthz' });
    expect(String(strict.headers['content-security-policy'])).toContain(
      "img-src 'self' data: blob:;",
    );
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    // Plain HTTP, not marked secure: no HSTS.
    expect(response.headers['strict-transport-security']).toBeUndefined();
  });

  it('is closed to other origins by default, preflight included', async () => {
    const simple = await closed.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { origin: 'https://evil.example' },
    });
    expect(simple.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await closed.app.inject({
      method: 'OPTIONS',
      url: '/api/projects',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-csrf-token',
      },
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
  });

  it('answers listed origins only, with credentials', async () => {
    const preflight = await open.app.inject({
      method: 'OPTIONS',
      url: '/api/projects',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-csrf-token',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(preflight.headers['access-control-allow-credentials']).toBe('true');
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('x-csrf-token');
    const other = await open.app.inject({
      method: 'OPTIONS',
      url: '/api/projects',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();

    // A listed origin may also send state-changing requests (with a key or session + CSRF).
    const key = await createApiKey(open, await createSignedInUser(open));
    const write = await open.app.inject({
      method: 'POST',
      url: '/api/projects',
      headers: { ...key.headers, origin: 'https://app.example.com' },
      payload: { name: 'cross-origin' },
    });
    expect(write.statusCode).toBe(201);
    expect(write.headers['access-control-allow-origin']).toBe('https://app.example.com');
  });
});
