import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from './index.ts';
import {
  addNewMigrationsToSnapshot,
  captureMigrationSql,
  readMigrationSqlSnapshot,
} from './migration-sql.ts';

// A landed migration has run on users' databases: refactoring its code is fine, changing what it
// sends is not. A new migration adds its SQL with `node src/migrations/migration-sql.ts`.
const landed = await readMigrationSqlSnapshot();
const current = await captureMigrationSql();

describe('the SQL every migration sends', () => {
  it('is in the snapshot for every migration, in order', () => {
    expect(
      Object.keys(landed),
      'a new migration records its SQL: node src/migrations/migration-sql.ts',
    ).toEqual(Object.keys(MIGRATIONS));
  });

  it.each(Object.keys(MIGRATIONS))('%s: up and down send the landed SQL to the byte', (name) => {
    expect(current[name]).toEqual(landed[name]);
    expect(current[name]!.up.length).toBeGreaterThan(0);
    expect(current[name]!.down.length).toBeGreaterThan(0);
  });

  it('records each statement as compiled, with its parameters', async () => {
    const migration: Migration = {
      up: async (db) => {
        await sql`create table t (\n  id text default ${'x'}\n)`.execute(db);
        await sql`create index t_idx on t (id)`.execute(db);
      },
    };
    expect(await captureMigrationSql({ '9999-probe': migration })).toEqual({
      '9999-probe': {
        up: [
          { sql: ['create table t (', '  id text default $1', ')'], parameters: ['x'] },
          { sql: ['create index t_idx on t (id)'], parameters: [] },
        ],
        down: [],
      },
    });
  });

  it('adds a new migration to the snapshot, and refuses to rewrite a landed one', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'migration-sql-'));
    const file = path.join(directory, 'snapshot.json');
    const table = (name: string): Migration => ({
      up: async (db) => {
        await sql`create table ${sql.raw(name)} (id uuid primary key)`.execute(db);
      },
      down: async (db) => {
        await sql`drop table ${sql.raw(name)}`.execute(db);
      },
    });
    try {
      expect(
        await addNewMigrationsToSnapshot({ path: file, migrations: { '0001-a': table('a') } }),
      ).toEqual(['0001-a']);
      const both = { '0001-a': table('a'), '0002-b': table('b') };
      expect(await addNewMigrationsToSnapshot({ path: file, migrations: both })).toEqual([
        '0002-b',
      ]);
      const written = await readFile(file, 'utf8');
      expect(Object.keys(await readMigrationSqlSnapshot(file))).toEqual(['0001-a', '0002-b']);

      const edited = { '0001-a': table('a2'), '0002-b': table('b') };
      await expect(addNewMigrationsToSnapshot({ path: file, migrations: edited })).rejects.toThrow(
        'landed migrations now send other SQL: 0001-a',
      );
      expect(await readFile(file, 'utf8')).toBe(written);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
