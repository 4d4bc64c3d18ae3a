import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';

/** What the monitor's app-level tests share: the app, a project with its members, a folder. */
export interface MonitorTestApp {
  t: TestApp;
  team: ProjectWithMembers;
  /** A temporary folder (its real path: on some systems the temp folder is a link). */
  dir: string;
}

/**
 * A test app without jobs, one project with its members and a temporary folder, for the tests of
 * one file: opened before them, closed and removed after. `roots` (folders in `dir`) become
 * BRAINCELLS_MONITOR_ROOTS.
 */
export function monitorTestApp(
  prefix: string,
  options: { roots?: (dir: string) => string[] } = {},
): MonitorTestApp {
  const env = { dir: realpathSync(mkdtempSync(path.join(os.tmpdir(), prefix))) } as MonitorTestApp;
  beforeAll(async () => {
    env.t = await createTestApp({
      startJobs: false,
      ...(options.roots ? { config: { monitor: { roots: options.roots(env.dir) } } } : {}),
    });
    env.team = await createProjectWithMembers(env.t);
  });
  afterAll(async () => {
    // Closing the app stops a server-side watch still on (a test would hang otherwise).
    await env.t?.close();
    rmSync(env.dir, { recursive: true, force: true });
  });
  return env;
}
