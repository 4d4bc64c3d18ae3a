import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, inject } from 'vitest';
import type { Actor } from '../src/access/actor.ts';
import { buildApp } from '../src/app.ts';
import { insertUser } from '../src/auth/user-store.ts';
import { type Config, loadConfig } from '../src/platform/config.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import { registerTestSecret } from './leak-scan.ts';
import { childEnv, type Spawned, spawnCli } from './spawn-server.ts';

/**
 * A new data dir (not removed for you) whose embedded database is a copy of the run's golden,
 * migrated PGlite dir (test/global-setup.ts): seeding it and starting servers over it runs no
 * migration again.
 */
export function migratedTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cpSync(inject('goldenPgliteDir'), path.join(dir, 'pg'), { recursive: true });
  return dir;
}

/**
 * Servers spawned as real processes over temporary data dirs, for crash tests: each test's
 * processes are killed (-9) and its data dirs removed after it, whatever it did.
 */
export function serverProcesses() {
  const children: Spawned[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const spawned of children.splice(0)) await killHard(spawned);
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return {
    /** A new empty data dir, removed after the test. */
    dataDir(prefix = 'braincells-proc-'): string {
      const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    /**
     * A new data dir whose embedded database is already migrated (a copy of the run's golden
     * PGlite dir, test/global-setup.ts): a spawned server then starts without running every
     * migration again. Tests of migrating itself use `dataDir`.
     */
    migratedDataDir(prefix = 'braincells-proc-'): string {
      const dir = migratedTempDir(prefix);
      dirs.push(dir);
      return dir;
    },
    /** `braincells serve` over `dataDir` on a free port; `await spawned.ready()` for its URL. */
    serve(dataDir: string, env: Record<string, string> = {}): Spawned {
      const spawned = spawnCli(
        ['serve'],
        childEnv({ BRAINCELLS_DATA_DIR: dataDir, PORT: '0', ...env }),
      );
      children.push(spawned);
      return spawned;
    },
    /** Any process the test spawned itself, killed after it like the servers. */
    track(spawned: Spawned): Spawned {
      children.push(spawned);
      return spawned;
    },
  };
}

/** kill -9, and wait until the process is gone (nothing if it already is). */
export async function killHard(spawned: Spawned): Promise<void> {
  if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) return;
  spawned.child.kill('SIGKILL');
  await spawned.exited;
}

/** A spawned command that failed cleanly: exit 1, one line on stderr, and no stack trace. */
export async function expectCleanFailure(spawned: Spawned, pattern: RegExp): Promise<void> {
  const { code } = await spawned.exited;
  expect(code).toBe(1);
  const stderr = spawned.stderr().trim();
  expect(stderr).toMatch(pattern);
  expect(stderr.split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at |\.ts:\d+/);
}

type SeedApp = Awaited<ReturnType<typeof buildApp>>;

/** What `seedDataDir` made: the owner, a project, an API key for the spawned server, a provider. */
export interface SeededDataDir {
  app: SeedApp;
  actor: Actor;
  projectId: string;
  /** A read/write API key (`Authorization: Bearer …`) for requests to the spawned server. */
  key: string;
  providerId: string;
}

/**
 * Opens the app over `dataDir` in this process, makes a user who owns a new project, an API key
 * and an OpenAI-kind provider pointed at the fake server, lets `more` add what the test needs,
 * and closes everything: the data dir a spawned server then opens.
 */
export async function seedDataDir<T extends object = object>(
  dataDir: string,
  options: {
    fakeUrl: string;
    providerKey: string;
    projectName: string;
    /** Start the job queue while seeding (features that queue work when created). */
    startJobs?: boolean;
    maxConcurrency?: number;
    /** Settings of the seeding app: a cluster's `databaseUrl` and `secret` (test/cluster/). */
    config?: Partial<Config>;
  },
  more: (seeded: SeededDataDir) => Promise<T> = async () => ({}) as T,
): Promise<Omit<SeededDataDir, 'app' | 'actor'> & T> {
  const config = {
    ...loadConfig({}, {}),
    dataDir,
    jobsEnabled: false,
    logLevel: 'silent' as const,
    ...options.config,
  };
  const platform = await openPlatform(config, createLogger({ level: 'silent', format: 'json' }));
  const app = await buildApp(platform);
  if (options.startJobs) await platform.jobs.start();
  await app.ready();
  try {
    const user = await insertUser(platform.database.db, {
      id: uuidv7(),
      email: `${uuidv7()}@example.test`,
      display_name: 'Spawned',
      password_hash: 'x',
      is_admin: false,
      now: new Date(),
    });
    const actor: Actor = {
      userId: user.id,
      isAdmin: false,
      via: 'session',
      scopes: ['read', 'write', 'admin'],
      credentialId: undefined,
    };
    const project = await app.services.projects.createProject(actor, {
      name: options.projectName,
      description: '',
    });
    const { key } = await app.services.apiKeys.create(actor, {
      name: 'spawned',
      scopes: ['read', 'write'],
    });
    registerTestSecret('api-key', key);
    registerTestSecret('provider-key', options.providerKey);
    const provider = await app.llm.admin.createProvider(actor, project.id, {
      name: 'fake',
      kind: 'openai',
      baseUrl: `${options.fakeUrl}/v1`,
      apiKey: options.providerKey,
      ...(options.maxConcurrency ? { maxConcurrency: options.maxConcurrency } : {}),
    });
    const seeded = { app, actor, projectId: project.id, key, providerId: provider.id };
    const extra = await more(seeded);
    return { projectId: seeded.projectId, key, providerId: provider.id, ...extra };
  } finally {
    await app.close();
    await platform.close();
  }
}
