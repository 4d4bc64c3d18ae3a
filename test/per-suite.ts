import { afterAll, beforeAll } from 'vitest';
import { createTestApp, type TestApp } from './test-platform.ts';

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
