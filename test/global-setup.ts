import { mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrator.ts';
import { scanRunDir } from './leak-scan.ts';
import { adminUrl, databaseUrlFor, goldenDatabaseName, testDatabaseUrl } from './test-postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    goldenPgliteDir: string;
    goldenPostgresDb: string | null;
    /** The run's temporary directory: every test's data dirs go there (see `scratchRoot`). */
    testTmpDir: string;
    /** Where test/leak-scan.ts collects this run's log lines and registered secrets. */
    testRunDir: string;
  }
}

/** Free space the RAM disk must have for the run's data dirs to go there: room for a hundred. */
const RAM_DISK_MIN_FREE = 4 * 1024 ** 3;

/**
 * Where the run keeps its data dirs: a RAM disk (/dev/shm) when the machine has one with room,
 * else the OS temp dir. Each test file copies a 42 MB PGlite dir and most start a database on
 * it: on the disk that is I/O the test waits for (durable-run.test.ts spent more wall time in
 * the copy than in its tests on a busy machine) and system CPU, in RAM a memory copy.
 * BRAINCELLS_TEST_TMPDIR chooses the place instead.
 */
function scratchRoot(): string {
  const chosen = process.env.BRAINCELLS_TEST_TMPDIR;
  if (chosen) return chosen;
  try {
    const stats = statfsSync('/dev/shm');
    if (stats.bavail * stats.bsize >= RAM_DISK_MIN_FREE) return '/dev/shm';
  } catch {
    // no RAM disk here
  }
  return os.tmpdir();
}

/**
 * Migrates a PGlite data dir once per run; each test file copies it (see test-platform.ts),
 * like a template database. With DATABASE_URL set, a golden PostgreSQL database is made too,
 * and files that test PostgreSQL clone it with CREATE DATABASE … TEMPLATE.
 */
export default async function setup(project: TestProject) {
  const root = mkdtempSync(path.join(scratchRoot(), 'braincells-golden-'));
  // The workers point TMPDIR here (test/setup.ts), and so every process they spawn; it goes
  // with the run, with whatever a test left behind.
  const testTmpDir = path.join(root, 'tmp');
  mkdirSync(testTmpDir);
  project.provide('testTmpDir', testTmpDir);
  const goldenPgliteDir = path.join(root, 'pg');
  const database = await openDatabase({ kind: 'pglite', dataDir: goldenPgliteDir });
  await migrateToLatest(database.db);
  await database.close();
  project.provide('goldenPgliteDir', goldenPgliteDir);
  const testRunDir = path.join(root, 'run');
  project.provide('testRunDir', testRunDir);

  let goldenPostgresDb: string | null = null;
  const url = testDatabaseUrl();
  if (url) {
    goldenPostgresDb = goldenDatabaseName();
    const admin = await openDatabase({
      kind: 'postgres',
      connectionString: adminUrl(url),
      poolSize: 1,
    });
    await sql.raw(`drop database if exists ${goldenPostgresDb}`).execute(admin.db);
    await sql.raw(`create database ${goldenPostgresDb}`).execute(admin.db);
    await admin.close();
    const golden = await openDatabase({
      kind: 'postgres',
      connectionString: databaseUrlFor(url, goldenPostgresDb),
      poolSize: 1,
    });
    await migrateToLatest(golden.db);
    await golden.close();
  }
  project.provide('goldenPostgresDb', goldenPostgresDb);

  return async () => {
    // Logs captured during the whole run must not contain any secret a test created.
    const scan = scanRunDir(testRunDir);
    rmSync(root, { recursive: true, force: true });
    if (scan.leaks.length > 0) {
      const list = scan.leaks.map(
        (leak) => `  ${leak.kind} ${leak.hint} in ${leak.file}:${leak.line}`,
      );
      throw new Error(`secrets found in test logs:\n${list.join('\n')}`);
    }
    if (url && goldenPostgresDb) {
      const admin = await openDatabase({
        kind: 'postgres',
        connectionString: adminUrl(url),
        poolSize: 1,
      });
      await sql.raw(`drop database if exists ${goldenPostgresDb} with (force)`).execute(admin.db);
      await admin.close();
    }
  };
}
