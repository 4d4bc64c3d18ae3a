import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type DuckDb, type DuckDbOptions, openDuckDb } from '../src/platform/duckdb/duckdb.ts';
import { createProjectWithMembers, type ProjectWithMembers } from './factories.ts';
import {
  type Backend,
  createTestApp,
  createTestStorage,
  openTestPlatform,
  type TestApp,
  type TestPlatform,
  type TestStorage,
} from './test-platform.ts';

/**
 * Opens a resource before the tests of the enclosing file or `describe` and closes it after
 * them. Returns a stand-in that reads the open resource on each property access, so a test
 * writes `t.app.inject(…)` as if it held the resource itself.
 */
export function perSuite<T extends object>(
  open: () => Promise<T>,
  close: (resource: T) => Promise<void>,
): T {
  let current: T | undefined;
  beforeAll(async () => {
    current = await open();
  });
  afterAll(async () => {
    if (current) await close(current);
  });
  return new Proxy({} as T, {
    get(_target, property) {
      if (!current) throw new Error('a per-suite resource is open only inside its tests');
      return current[property as keyof T];
    },
  });
}

type TestAppOptions = Parameters<typeof createTestApp>[0];

/** A test app (real PGlite, DuckDB, features) shared by the tests of a file or `describe`. */
export function testAppPerSuite(options?: TestAppOptions): TestApp {
  return perSuite(
    () => createTestApp(options),
    (t) => t.close(),
  );
}

/**
 * A project with one signed-in user per role and an outsider (createProjectWithMembers), made
 * in `t` before the tests of the file or `describe`; with testAppPerSuite:
 *
 *   const t = testAppPerSuite();
 *   const members = projectPerSuite(t);
 */
export function projectPerSuite(
  t: TestApp,
  options?: Parameters<typeof createProjectWithMembers>[1],
): ProjectWithMembers {
  // The project goes with the app (t.close): nothing of its own to close.
  return perSuite(
    () => createProjectWithMembers(t, options),
    async () => {},
  );
}

/** A test app of its own for one test, closed whatever the test does. */
export async function withTestApp<T>(
  options: TestAppOptions,
  work: (t: TestApp) => Promise<T>,
): Promise<T> {
  const t = await createTestApp(options);
  try {
    return await work(t);
  } finally {
    await t.close();
  }
}

/**
 * Platforms a test opens on a migrated storage of its own: every `open` in one test shares
 * that storage (a second open is a restart), and all are closed and the storage removed after
 * the test, whatever it does.
 */
export function platformsPerTest(backend: Backend): {
  open(overrides?: Parameters<typeof openTestPlatform>[1]): Promise<TestPlatform>;
} {
  let storage: TestStorage | undefined;
  const opened: TestPlatform[] = [];
  afterEach(async () => {
    // Closing twice is harmless: a test may have closed one itself to restart.
    for (const platform of opened.splice(0).reverse()) await platform.close();
    await storage?.dispose();
    storage = undefined;
  });
  return {
    async open(overrides) {
      storage ??= await createTestStorage(backend);
      const platform = await openTestPlatform(storage, overrides);
      opened.push(platform);
      return platform;
    },
  };
}

/**
 * A DuckDB instance on files of its own (`<dir>/<file>`, its dataset files beside it) for the
 * tests of a file or `describe`; closed and its folder removed after them.
 */
export function duckDbPerSuite(options: Omit<DuckDbOptions, 'path'> & { file?: string } = {}): {
  dir: string;
  duckdb: DuckDb;
} {
  const { file = 'data.duckdb', ...rest } = options;
  return perSuite(
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-duckdb-suite-'));
      return { dir, duckdb: await openDuckDb({ path: path.join(dir, file), ...rest }) };
    },
    async ({ dir, duckdb }) => {
      await duckdb.close();
      rmSync(dir, { recursive: true, force: true });
    },
  );
}
