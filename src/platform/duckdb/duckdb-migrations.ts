import { readdirSync } from 'node:fs';
import type { DuckDb } from './duckdb.ts';
import { datasetCatalog } from './duckdb-datasets.ts';
import { quoteIdentifier } from './duckdb-identifiers.ts';

/**
 * Changes to what the DuckDB side stores, applied when DuckDB opens (the data dir is locked
 * by its server, so no other process could apply them later), recorded in the main file like
 * the PostgreSQL migrations are in theirs. Each has `up` and a tested `down`; one never
 * changes after it lands.
 */
export interface DuckDbMigration {
  name: string;
  up(duckdb: DuckDb): Promise<void>;
  down(duckdb: DuckDb): Promise<void>;
}

const RECORD = 'braincells_duckdb_migration';
const LEGACY_TABLE = /^ds_([0-9a-f]{32})$/;
const DATASET_FILE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.duckdb$/;

const uuidOf = (hex: string) =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

/**
 * Copies a dataset's table, its id sequence (continuing where it was) and its row-id index
 * from one catalog to another, replacing a copy a crash left half made, then drops the source.
 * Each statement is its own transaction (DuckDB writes one attached database per
 * transaction); the source goes last, so a crash at any point leaves it whole.
 */
async function moveDataset(duckdb: DuckDb, datasetId: string, from: string, to: string) {
  const name = `ds_${datasetId.replaceAll('-', '')}`;
  const table = (catalog: string) => `${quoteIdentifier(catalog)}.main.${quoteIdentifier(name)}`;
  const sequence = (catalog: string) =>
    `${quoteIdentifier(catalog)}.main.${quoteIdentifier(`${name}_seq`)}`;
  await duckdb.withConnection(async (connection) => {
    await connection.run(`drop table if exists ${table(to)}`);
    await connection.run(`drop sequence if exists ${sequence(to)}`);
    await connection.run(
      `create table ${table(to)} as select * from ${table(from)} order by _row_id`,
    );
    const [next] = (
      await connection.runAndReadAll(
        `select coalesce((select max(_row_id) from ${table(from)}), 0) + 1 as fallback,
                (select count(*) from duckdb_sequences() where database_name = '${from}' and sequence_name = '${name}_seq') as has`,
      )
    ).getRowObjectsJS() as [{ fallback: bigint; has: bigint }];
    let start = next.fallback;
    if (next.has > 0n) {
      const [row] = (
        await connection.runAndReadAll(`select nextval('${from}.main.${name}_seq') as value`)
      ).getRowObjectsJS() as [{ value: bigint }];
      if (row.value > start) start = row.value;
    }
    await connection.run(`create sequence ${sequence(to)} start ${start}`);
    await connection.run(
      `create unique index ${quoteIdentifier(`${name}_pk`)} on ${table(to)} (_row_id)`,
    );
    await connection.run(`checkpoint ${quoteIdentifier(to)}`);
    await connection.run(`drop table ${table(from)}`);
    await connection.run(`drop sequence if exists ${sequence(from)}`);
  });
}

/** 0810: every dataset's table moves from the one main file into its own file. */
export const datasetFilesMigration: DuckDbMigration = {
  name: '0810-dataset-files',
  async up(duckdb) {
    const main = await mainCatalog(duckdb);
    const tables = await duckdb.query<{ table_name: string }>(
      `select table_name from duckdb_tables() where database_name = ? and schema_name = 'main' order by table_name`,
      [main],
    );
    for (const { table_name: tableName } of tables) {
      const hex = LEGACY_TABLE.exec(tableName)?.[1];
      if (!hex) continue;
      const datasetId = uuidOf(hex);
      await duckdb.datasets.open(datasetId, { create: true });
      await moveDataset(duckdb, datasetId, main, datasetCatalog(datasetId));
      // Not kept attached: whichever server owns it attaches it on first use.
      await duckdb.datasets.detach(datasetId);
    }
    await duckdb.run(`checkpoint`);
  },
  async down(duckdb) {
    const main = await mainCatalog(duckdb);
    const dir = duckdb.datasets.dir;
    const files = dir === ':memory:' ? [] : readdirSync(dir);
    for (const file of files.sort()) {
      const datasetId = DATASET_FILE.exec(file)?.[1];
      if (!datasetId) continue;
      await duckdb.datasets.open(datasetId);
      const [found] = await duckdb.query<{ n: bigint }>(
        `select count(*) as n from duckdb_tables() where database_name = ? and table_name = ?`,
        [datasetCatalog(datasetId), `ds_${datasetId.replaceAll('-', '')}`],
      );
      if (found && found.n > 0n)
        await moveDataset(duckdb, datasetId, datasetCatalog(datasetId), main);
      await duckdb.datasets.remove(datasetId);
    }
    await duckdb.run(`checkpoint`);
  },
};

export const DUCKDB_MIGRATIONS: readonly DuckDbMigration[] = [datasetFilesMigration];

async function mainCatalog(duckdb: DuckDb): Promise<string> {
  const [row] = await duckdb.query<{ name: string }>(`select current_database() as name`);
  return row!.name;
}

async function applied(duckdb: DuckDb): Promise<Set<string>> {
  await duckdb.run(
    `create table if not exists main.${RECORD} (name varchar primary key, applied_at timestamptz not null)`,
  );
  const rows = await duckdb.query<{ name: string }>(`select name from main.${RECORD}`);
  return new Set(rows.map((row) => row.name));
}

/** Applies the pending migrations in order; returns their names. */
export async function migrateDuckDb(
  duckdb: DuckDb,
  migrations: readonly DuckDbMigration[] = DUCKDB_MIGRATIONS,
): Promise<string[]> {
  const done = await applied(duckdb);
  const ran: string[] = [];
  for (const migration of migrations) {
    if (done.has(migration.name)) continue;
    await migration.up(duckdb);
    await duckdb.run(`insert into main.${RECORD} values (?, now())`, [migration.name]);
    ran.push(migration.name);
  }
  return ran;
}

/** Rolls back the last applied migration; returns its name (undefined when none was applied). */
export async function rollbackDuckDb(
  duckdb: DuckDb,
  migrations: readonly DuckDbMigration[] = DUCKDB_MIGRATIONS,
): Promise<string | undefined> {
  const done = await applied(duckdb);
  const last = [...migrations].reverse().find((migration) => done.has(migration.name));
  if (!last) return undefined;
  await last.down(duckdb);
  await duckdb.run(`delete from main.${RECORD} where name = ?`, [last.name]);
  return last.name;
}
