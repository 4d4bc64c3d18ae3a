import { mkdtempSync, rmSync } from 'node:fs';
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
    /** Where test/leak-scan.ts collects this run's log lines and registered secrets. */
    testRunDir: string;
  }
}

/**
 * Migrates a PGlite data dir once per run; each test file copies it (see test-platform.ts),
 * like a template database. With DATABASE_URL set, a golden PostgreSQL database is made too,
 * and files that test PostgreSQL clone it with CREATE DATABASE … TEMPLATE.
 */
export default async function setup(project: TestProject) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'braincells-golden-'));
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
