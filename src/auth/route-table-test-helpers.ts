import { randomUUID } from 'node:crypto';
import { perSuite } from '../../test/per-suite.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';

// The route table's tests (route-table.test.ts, route-table-errors.test.ts): the routes Fastify
// serves and what the auth registry says of each.

export interface Route {
  method: string;
  url: string;
}

/**
 * Every route Fastify serves, from its own router (not from our registry). The printed tree
 * can shorten a wildcard under a static prefix (`/api/docs/static/*` prints as `/api/docs/*`);
 * such a wildcard is resolved to the one registered route it can stand for.
 */
export function routesOf(app: TestApp['app']): Route[] {
  const routes: Route[] = [];
  const prefixes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    prefixes.length = depth;
    const url = (prefixes[depth - 1] ?? '') + match[2]!;
    prefixes[depth] = url;
    for (const method of match[3]?.split(', ') ?? []) routes.push(resolve(app, { method, url }));
  }
  return routes;
}

function resolve(app: TestApp['app'], route: Route): Route {
  if (!route.url.endsWith('*') || registryEntry(app, route)) return route;
  const stem = route.url.slice(0, -1);
  const candidates = app.routeSecurity.filter(
    (entry) =>
      entry.method === route.method && entry.url.endsWith('*') && entry.url.startsWith(stem),
  );
  return candidates.length === 1 ? { method: route.method, url: candidates[0]!.url } : route;
}

export function registryEntry(app: TestApp['app'], route: Route) {
  const find = (url: string) =>
    app.routeSecurity.find((entry) => entry.method === route.method && entry.url === url);
  // Fastify serves a prefixed '/' route at both '/prefix' and '/prefix/'.
  return find(route.url) ?? find(route.url.replace(/\/$/, ''));
}

export function isPublic(app: TestApp['app'], route: Route): boolean {
  return registryEntry(app, route)?.public ?? false;
}

export function isReadOnly(app: TestApp['app'], route: Route): boolean {
  return registryEntry(app, route)?.readOnly ?? false;
}

/** A concrete URL for a route pattern: path parameters become fresh UUIDs. */
export function concrete(url: string, value: () => string = randomUUID): string {
  return url.replace(/:[A-Za-z]+/g, () => value()).replace(/\*$/, 'x');
}

export const key = (route: Route) => `${route.method} ${route.url}`;

/** Internals an error body must never show: SQL, stack traces, file paths, driver names. */
export const INTERNALS: RegExp[] = [
  /\bat \S+ \(?\S*:\d+:\d+\)?/,
  /\.(?:ts|js|mjs|cjs):\d+/,
  // dev: the tests' data dirs are under /dev/shm when the machine has room (test/global-setup.ts).
  /(?:^|[\s"'(=])\/(?:work|home|srv|tmp|dev|usr|var|opt|root|app)\//,
  /node_modules/,
  /\b(?:select|insert|update|delete)\b[^"]{0,80}\b(?:from|into|set|where)\b/i,
  /\b(?:relation|duplicate key|violates|syntax error|sqlstate|pglite|postgres|kysely|duckdb)\b/i,
  /"stack"/,
];

export function internalsIn(body: string): RegExp | undefined {
  return INTERNALS.find((pattern) => pattern.test(body));
}

/**
 * The app the route-table tests run on, opened before a file's tests and closed after them, with
 * a route that never reads request.actor: only the auth hook stands between it and a stranger.
 */
export function routeTableAppPerFile(): TestApp {
  return perSuite(
    () =>
      createTestApp({
        configure: (app) => {
          app.get('/test/no-actor', async () => ({ data: 'for members only' }));
          app.post('/test/no-actor', async () => ({ changed: true }));
        },
      }),
    (t) => t.close(),
  );
}
