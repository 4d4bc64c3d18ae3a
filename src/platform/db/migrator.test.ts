import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createTestStorage,
  openTestDatabase,
  type TestStorage,
  testBackends,
} from '../../../test/test-platform.ts';
import { MIGRATIONS } from '../../migrations/index.ts';
import type { Database } from './database.ts';
import { migrateToLatest, migrationStatus, rollback } from './migrator.ts';

const open = (storage: TestStorage) => openTestDatabase(storage);

async function tables(database: Database): Promise<string[]> {
  const result = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_name not like 'braincells_migration%'
    order by table_name`.execute(database.db);
  return result.rows.map((row) => row.table_name);
}

describe('the migration index', () => {
  it('lists migrations in name order, each name once (a merge must not append out of order)', () => {
    const names = Object.keys(MIGRATIONS);
    expect(names).toEqual([...names].sort());
    expect(new Set(names.map((name) => name.slice(0, 4))).size).toBe(names.length);
  });
});

describe.each(testBackends())('migrations on %s', (backend) => {
  let storage: TestStorage | undefined;
  let database: Database | undefined;
  afterEach(async () => {
    await database?.close();
    await storage?.dispose();
  });

  it('run all the way up, all the way down, and up again', async () => {
    storage = await createTestStorage(backend, { migrated: false });
    database = await open(storage);
    const names = Object.keys(MIGRATIONS);

    expect(await migrateToLatest(database.db)).toEqual(names);
    const schemaAfterFirstUp = await tables(database);
    expect(schemaAfterFirstUp.length).toBeGreaterThan(0);
    expect((await migrationStatus(database.db)).every((m) => m.executedAt instanceof Date)).toBe(
      true,
    );

    expect(await rollback(database.db, 'all')).toEqual([...names].reverse());
    expect(await tables(database)).toEqual([]);
    expect((await migrationStatus(database.db)).every((m) => m.executedAt === undefined)).toBe(
      true,
    );

    expect(await migrateToLatest(database.db)).toEqual(names);
    expect(await tables(database)).toEqual(schemaAfterFirstUp);
    expect(await migrateToLatest(database.db)).toEqual([]);
    // Three full migrations on PGlite: a liveness bound, not a speed limit (CPU-bound, and the
    // suite must pass with both cores busy).
  }, 180_000);

  it('rolls back one step at a time', async () => {
    // The run's golden database, migrated to the latest (the full up/down/up is tested above).
    storage = await createTestStorage(backend);
    database = await open(storage);
    expect(await migrateToLatest(database.db)).toEqual([]);
    const last = Object.keys(MIGRATIONS).at(-1);
    expect(await rollback(database.db, 1)).toEqual([last]);
    const status = await migrationStatus(database.db);
    expect(status.at(-1)?.executedAt).toBeUndefined();
  });
});
