import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppInstance } from './app-instance.ts';
import { webAssets } from './web-assets.ts';

async function appServing(root: string) {
  const app = Fastify();
  app.setNotFoundHandler(async (_request, reply) =>
    reply.status(404).send({ error: { code: 'NOT_FOUND' } }),
  );
  app.get('/api/known', async () => ({ ok: true }));
  await webAssets(app as unknown as AppInstance, { root });
  await app.ready();
  return app;
}

describe('webAssets', () => {
  let root: string;
  let app: Awaited<ReturnType<typeof appServing>>;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'braincells-web-'));
    mkdirSync(path.join(root, 'assets'));
    writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>app</title>');
    const script = `console.log(${JSON.stringify('x'.repeat(4000))});`;
    writeFileSync(path.join(root, 'assets', 'index-abc123.js'), script);
    writeFileSync(path.join(root, 'assets', 'index-abc123.js.gz'), gzipSync(script));
    writeFileSync(path.join(root, 'favicon.svg'), '<svg/>');
    writeFileSync(path.join(path.dirname(root), 'secret.txt'), 'secret');
    app = await appServing(root);
  });

  afterAll(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers client-side routes with index.html, never cached', async () => {
    for (const url of ['/', '/projects/1/datasets/2', '/login?redirect=%2F']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain('<title>app</title>');
      expect(response.headers['cache-control']).toBe('no-cache');
    }
  });

  it('serves hashed assets for a year, pre-compressed when accepted', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/assets/index-abc123.js',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-encoding']).toBe('gzip');
    expect(response.headers['cache-control']).toContain('immutable');
    expect(response.headers['content-type']).toContain('javascript');
  });

  it('keeps the JSON 404 for unknown API paths and missing assets', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/unknown' })).json()).toEqual({
      error: { code: 'NOT_FOUND' },
    });
    expect((await app.inject({ method: 'GET', url: '/api/known' })).json()).toEqual({ ok: true });
    expect((await app.inject({ method: 'GET', url: '/assets/missing.js' })).statusCode).toBe(404);
  });

  it('never serves a file outside the build', async () => {
    for (const url of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/assets/..%5c..%5csecret.txt',
    ]) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.body).not.toContain('secret');
    }
  });

  it('explains how to build the app when the build is missing', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'braincells-web-empty-'));
    const bare = await appServing(empty);
    const response = await bare.inject({ method: 'GET', url: '/datasets' });
    expect(response.statusCode).toBe(503);
    expect(response.body).toContain('npm run build:web');
    expect((await bare.inject({ method: 'GET', url: '/api/unknown' })).statusCode).toBe(404);
    await bare.close();
    rmSync(empty, { recursive: true, force: true });
  });
});
