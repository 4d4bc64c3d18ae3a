import type { InjectOptions } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createApiKey,
  createProject,
  createSignedInUser,
  type TestApiKey,
  type TestSession,
} from '../../test/factories.ts';
import type { TestApp } from '../../test/test-platform.ts';
import {
  concrete,
  isPublic,
  isReadOnly,
  key,
  type Route,
  registryEntry,
  routesOf,
  routeTableAppPerFile,
} from './route-table-test-helpers.ts';

/**
 * The route table, enumerated from Fastify itself: every route needs a session or an API key
 * except this explicit list. A route opts out with `config: { public: true }`; adding one
 * means adding it here (and to docs/security.md) with the reason.
 */
const PUBLIC_ROUTES = [
  // Liveness, readiness and Prometheus metrics, for orchestrators and scrapers.
  'GET /healthz',
  'HEAD /healthz',
  'GET /readyz',
  'HEAD /readyz',
  'GET /metrics',
  'HEAD /metrics',
  // The API description and its docs page (static assets): they describe the API, not data.
  'GET /api/openapi.json',
  'HEAD /api/openapi.json',
  'GET /api/docs',
  'HEAD /api/docs',
  'GET /api/docs/',
  'HEAD /api/docs/',
  'GET /api/docs/json',
  'HEAD /api/docs/json',
  'GET /api/docs/yaml',
  'HEAD /api/docs/yaml',
  'GET /api/docs/static/index.html',
  'HEAD /api/docs/static/index.html',
  'GET /api/docs/static/swagger-initializer.js',
  'HEAD /api/docs/static/swagger-initializer.js',
  'GET /api/docs/static/*',
  'HEAD /api/docs/static/*',
  // First run and signing in: nobody has a session yet.
  'GET /api/auth/setup',
  'HEAD /api/auth/setup',
  'POST /api/auth/setup',
  'POST /api/auth/login',
  'POST /api/auth/login/mfa',
  'POST /api/auth/password-reset/request',
  'POST /api/auth/password-reset/confirm',
  // A run handed to the server that holds its dataset (src/platform/datasets/dataset-run-handoff.ts):
  // servers call it with a signature of the forwarding key bound to method, URL and expiry;
  // anything else is 401 (dataset-run-handoff.test.ts).
  'POST /api/internal/runs/:kind/:runId/execute',
  // The gateway (src/gateway, docs/gateway.md): a gateway key is the credential, checked by
  // the gateway itself; sessions and user API keys do not open it.
  'GET /v1/models',
  'HEAD /v1/models',
  'POST /v1/chat/completions',
  'POST /v1/messages',
  // The web app's files and its client-side routes (index.html): code, not data; every /api
  // path under the catch-all still answers the JSON 404 (src/platform/http/web-assets.ts).
  'GET /',
  'HEAD /',
  'GET /*',
  'HEAD /*',
].sort();

/**
 * POSTs that only read (a query too large or structured for a URL): open to read-only API
 * keys through `config: { readOnly: true }`; adding one means adding it here and to
 * docs/security.md.
 */
const READ_ONLY_POSTS = [
  'POST /api/projects/:projectId/datasets/:datasetId/rows/query',
  'POST /api/projects/:projectId/datasets/:datasetId/sql',
  'POST /api/projects/:projectId/datasets/:datasetId/ai-columns/preview-prompt',
  'POST /api/projects/:projectId/datasets/:datasetId/ai-columns/:columnId/preview',
  'POST /api/projects/:projectId/images/thumbnails',
].sort();

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

// One app for the file: the describe below runs on it.
const t = routeTableAppPerFile();

describe('the route table', () => {
  let admin: TestSession;
  let readOnlyKey: TestApiKey;
  let routes: Route[];

  beforeAll(async () => {
    admin = await createSignedInUser(t, { isAdmin: true });
    readOnlyKey = await createApiKey(t, admin, { scopes: ['read'] });
    routes = routesOf(t.app);
  });

  it('is fully known to the auth registry', () => {
    expect(routes.length).toBeGreaterThan(40);
    const unknown = routes.filter((route) => !registryEntry(t.app, route));
    expect(unknown.map(key)).toEqual([]);
  });

  it('describes the account, project and audit routes in the OpenAPI document, with tags', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    const ours = t.app.routeSecurity.filter((route) =>
      /^\/api\/(auth|users|audit|projects(\/:projectId(\/(members|audit).*)?)?$)/.test(route.url),
    );
    expect(ours.length).toBeGreaterThan(30);
    for (const route of ours) {
      if (route.method === 'HEAD') continue;
      const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
      const operation = document.paths[path]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.url}`).toBeDefined();
      expect(operation.tags?.length, `${route.method} ${route.url}`).toBeGreaterThan(0);
      expect(operation.summary, `${route.method} ${route.url}`).toBeTruthy();
    }
  });

  /** The routes (`METHOD url`, sorted) whose config says so. */
  const routesWhere = (test: (app: TestApp['app'], route: Route) => boolean) =>
    routes
      .filter((route) => test(t.app, route))
      .map(key)
      .sort();

  it('has exactly the documented public routes', () => {
    expect(routesWhere(isPublic)).toEqual(PUBLIC_ROUTES);
  });

  it('answers 401 with the envelope on every other route without credentials', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      if (isPublic(t.app, route)) continue;
      const response = await t.app.inject({
        method: route.method as InjectOptions['method'],
        url: concrete(route.url),
      });
      if (response.statusCode !== 401) failures.push(`${key(route)} → ${response.statusCode}`);
      else if (route.method !== 'HEAD' && response.json().error?.code !== 'UNAUTHENTICATED') {
        failures.push(`${key(route)} → ${response.body}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('answers 401 to a forged cookie or bearer key on every non-public route', async () => {
    const failures: string[] = [];
    const forged = [
      { cookie: `bc_session=${'A'.repeat(43)}` },
      { authorization: `Bearer bc_${'A'.repeat(43)}` },
      { authorization: 'Basic YWRtaW46YWRtaW4=' },
    ];
    for (const route of routes) {
      if (isPublic(t.app, route)) continue;
      for (const headers of forged) {
        const response = await t.app.inject({
          method: route.method as InjectOptions['method'],
          url: concrete(route.url),
          headers,
        });
        if (response.statusCode !== 401)
          failures.push(`${key(route)} ${Object.keys(headers)} → ${response.statusCode}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('does not serve public routes behind a 401', async () => {
    for (const route of routes.filter((r) => isPublic(t.app, r) && SAFE.has(r.method))) {
      const response = await t.app.inject({
        method: route.method as InjectOptions['method'],
        url: concrete(route.url),
      });
      // The gateway's routes check their own credential, a gateway key (src/gateway).
      if (route.url.startsWith('/v1/')) expect(response.statusCode, key(route)).toBe(401);
      else expect(response.statusCode, key(route)).not.toBe(401);
    }
  });

  it('refuses every state-changing request of a cookie session without the CSRF token (403)', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      if (isPublic(t.app, route) || SAFE.has(route.method)) continue;
      for (const csrf of [undefined, 'wrong-token', admin.csrfToken.slice(0, -1)]) {
        const response = await t.app.inject({
          method: route.method as InjectOptions['method'],
          url: concrete(route.url),
          headers: {
            cookie: admin.headers.cookie,
            ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }),
          },
          payload: {},
        });
        const body = response.json();
        if (response.statusCode !== 403 || body.error?.details?.reason !== 'csrf') {
          failures.push(`${key(route)} csrf=${csrf} → ${response.statusCode}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('has exactly the documented read-only POST routes', () => {
    expect(routesWhere(isReadOnly)).toEqual(READ_ONLY_POSTS);
  });

  it('says in the OpenAPI description which POST routes read-only keys may call', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    for (const route of READ_ONLY_POSTS) {
      const path = route.slice('POST '.length).replace(/:([A-Za-z]+)/g, '{$1}');
      expect(document.paths[path]?.post?.description, route).toContain('`read` scope');
    }
  });

  it('refuses every state-changing request made with a read-only API key (403)', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      if (isPublic(t.app, route) || SAFE.has(route.method) || isReadOnly(t.app, route)) continue;
      const response = await t.app.inject({
        method: route.method as InjectOptions['method'],
        url: concrete(route.url),
        headers: readOnlyKey.headers,
        payload: {},
      });
      if (response.statusCode !== 403) failures.push(`${key(route)} → ${response.statusCode}`);
    }
    expect(failures).toEqual([]);
  });

  it('answers 404, never 403 or data, to a non-member on every GET of another project', async () => {
    const owner = await createSignedInUser(t);
    const outsider = await createSignedInUser(t);
    const project = await createProject(t, owner, { name: 'Secret project B' });
    const failures: string[] = [];
    const projectRoutes = routes.filter(
      (route) => route.method === 'GET' && /^\/api\/projects\/:projectId(\/|$)/.test(route.url),
    );
    expect(projectRoutes.length).toBeGreaterThanOrEqual(3);
    for (const route of projectRoutes) {
      const url = concrete(route.url.replace(':projectId', project.id));
      const response = await t.app.inject({ method: 'GET', url, headers: outsider.headers });
      const code = response.json().error?.code;
      // 400 only when a required query parameter is missing, before any lookup.
      if (
        !(
          response.statusCode === 404 ||
          (response.statusCode === 400 && code === 'VALIDATION_ERROR')
        )
      ) {
        failures.push(`${key(route)} → ${response.statusCode}`);
      }
      if (response.body.includes('Secret project B'))
        failures.push(`${key(route)} leaked the name`);
    }
    expect(failures).toEqual([]);
  });
});
