import { sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from './index.ts';
import { captureMigrationSql, readMigrationSqlSnapshot } from './migration-sql.ts';

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
});
