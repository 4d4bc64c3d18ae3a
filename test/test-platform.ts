import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { inject } from 'vitest';
import { buildApp } from '../src/app.ts';
import type { FeatureOptions } from '../src/features.ts';
import { type Config, loadConfig } from '../src/platform/config.ts';
import { type Database, openDatabase } from '../src/platform/db/database.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform, type Platform } from '../src/platform/platform.ts';
import { appendRunLog } from './leak-scan.ts';
import { adminUrl, databaseUrlFor, randomDatabaseName, testDatabaseUrl } from './test-postgres.ts';

export type Backend = 'pglite' | 'postgres';

/** The backends a storage test should run on: PGlite always, PostgreSQL when DATABASE_URL is set. */
export function testBackends(): Backend[] {
  return testDatabaseUrl() ? ['pglite', 'postgres'] : ['pglite'];
}

/** A data dir (and, for PostgreSQL, a database) of a test's own, cloned from the golden one. */
export interface TestStorage {
  backend: Backend;
  dataDir: string;
  databaseUrl: string | undefined;
  dispose(): Promise<void>;
}

export async function createTestStorage(
  backend: Backend = 'pglite',
  options: { migrated?: boolean } = {},
): Promise<TestStorage> {
  const migrated = options.migrated ?? true;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'braincells-test-'));
  if (backend === 'pglite') {
    if (migrated) cpSync(inject('goldenPgliteDir'), path.join(dataDir, 'pg'), { recursive: true });
    return {
      backend,
      dataDir,
      databaseUrl: undefined,
      dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const url = testDatabaseUrl();
  const golden = inject('goldenPostgresDb');
  if (!url || !golden) throw new Error('PostgreSQL tests need DATABASE_URL');
  const name = randomDatabaseName();
  const admin = await openDatabase({
    kind: 'postgres',
    connectionString: adminUrl(url),
    poolSize: 1,
  });
  await sql
    .raw(migrated ? `create database ${name} template ${golden}` : `create database ${name}`)
    .execute(admin.db);
  await admin.close();
  return {
    backend,
    dataDir,
    databaseUrl: databaseUrlFor(url, name),
    dispose: async () => {
      rmSync(dataDir, { recursive: true, force: true });
      const cleanup = await openDatabase({
        kind: 'postgres',
        connectionString: adminUrl(url),
        poolSize: 1,
      });
      await sql.raw(`drop database if exists ${name} with (force)`).execute(cleanup.db);
      await cleanup.close();
    },
  };
}

/** Every log line a test platform wrote, parsed. */
/** The storage's metadata database on its own (no platform): PGlite in its data dir, or PostgreSQL. */
export function openTestDatabase(storage: TestStorage, poolSize = 2): Promise<Database> {
  return storage.databaseUrl
    ? openDatabase({ kind: 'postgres', connectionString: storage.databaseUrl, poolSize })
    : openDatabase({ kind: 'pglite', dataDir: path.join(storage.dataDir, 'pg') });
}

export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    // Every captured line also goes to the run's log scan (test/leak-scan.ts).
    appendRunLog(chunk.toString('utf8'));
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }

  text(): string {
    return this.raw.join('\n');
  }
}

export function testConfig(storage: TestStorage, overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}, {}),
    dataDir: storage.dataDir,
    databaseUrl: storage.databaseUrl,
    port: 0,
    migrateOnStart: false,
    jobsEnabled: false,
    logLevel: 'debug',
    nodeEnv: 'test',
    duckdb: {
      threads: 2,
      memoryLimit: '1GB',
      connections: 2,
      maxAttached: 500,
      sandbox: { memoryBytes: 1024 ** 3, processes: 2 },
    },
    // Every test request comes from 127.0.0.1: per-IP and per-user limits would meet each
    // other's traffic. Rate-limit tests set their own limits.
    rateLimit: { perIp: 100_000, perUser: 100_000, auth: 10_000, redisUrl: undefined },
    ...overrides,
  };
}

export interface TestPlatform extends Platform {
  logs: LogCapture;
}

export async function openTestPlatform(
  storage: TestStorage,
  overrides: Partial<Config> = {},
): Promise<TestPlatform> {
  const config = testConfig(storage, overrides);
  const logs = new LogCapture();
  const logger = createLogger({ level: config.logLevel, format: 'json', destination: logs });
  const platform = await openPlatform(config, logger);
  return Object.assign(platform, { logs });
}

export interface TestApp {
  app: Awaited<ReturnType<typeof buildApp>>;
  platform: TestPlatform;
  storage: TestStorage;
  close(): Promise<void>;
}

/** A platform on fresh storage and the app over it; `close()` removes everything. */
export async function createTestApp(
  options: {
    backend?: Backend;
    config?: Partial<Config>;
    startJobs?: boolean;
    /** Options of the features (src/features.ts), e.g. a recording wait or a fixed clock. */
    features?: FeatureOptions;
    /** Extra routes a test needs, added before the app is ready. */
    configure?: (app: TestApp['app']) => void | Promise<void>;
    /**
     * Storage to open instead of fresh storage (a second server on another's database);
     * `close()` leaves it to its owner.
     */
    storage?: TestStorage;
  } = {},
): Promise<TestApp> {
  const storage = options.storage ?? (await createTestStorage(options.backend ?? 'pglite'));
  const platform = await openTestPlatform(storage, options.config);
  const app = await buildApp(platform, options.features);
  await options.configure?.(app);
  if (options.startJobs ?? true) await platform.jobs.start();
  await app.ready();
  return {
    app,
    platform,
    storage,
    close: async () => {
      await app.close();
      await platform.close();
      if (!options.storage) await storage.dispose();
    },
  };
}

/**
 * A second server on `first`'s database (and, with the same `config.storageDir`, its storage
 * folder): its own data dir and DuckDB, removed when it closes.
 */
export async function createSecondServer(
  first: TestApp,
  options: Omit<Parameters<typeof createTestApp>[0] & {}, 'storage' | 'backend'> = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bc-second-server-'));
  try {
    const second = await createTestApp({ ...options, storage: { ...first.storage, dataDir } });
    return {
      ...second,
      close: async () => {
        await second.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}
