import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDb, openDuckDb } from './duckdb.ts';
import { migrateDuckDb, rollbackDuckDb } from './duckdb-migrations.ts';

describe('DuckDB helper', () => {
  let dir: string;
  let duckdb: DuckDb;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bc-duck-'));
    duckdb = await openDuckDb({
      path: path.join(dir, 'db', 'test.duckdb'),
      connections: 2,
      threads: 2,
    });
    await duckdb.run(
      'create table t_items (_row_id bigint primary key, name varchar, score double)',
    );
  });
  afterAll(async () => {
    await duckdb.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('appends in bulk and reads typed rows back', async () => {
    const rows = Array.from({ length: 10_000 }, (_, index) => [
      BigInt(index),
      `item ${index}`,
      index / 2,
    ]);
    expect(await duckdb.append('t_items', rows)).toBe(10_000);
    const [summary] = await duckdb.query<{ n: bigint; total: number }>(
      'select count(*) as n, sum(score) as total from t_items',
    );
    expect(summary).toEqual({ n: 10_000n, total: 24_997_500 });
  });

  it('lends several connections at once but always leaves one for everyone else', async () => {
    const pool = await openDuckDb({ path: ':memory:', connections: 3, threads: 2 });
    try {
      expect(pool.threads).toBe(2);
      await pool.withConnections(4, async (connections) => {
        expect(connections).toHaveLength(2);
        // The one left idle still serves other work meanwhile.
        expect(await pool.query('select 42 as n')).toEqual([{ n: 42 }]);
      });
      await pool.withConnection(async () => {
        await pool.withConnections(4, async (connections) => {
          expect(connections).toHaveLength(1);
        });
      });
      // All three came back.
      await pool.withConnections(1, async (connections) => {
        expect(connections).toHaveLength(1);
      });
    } finally {
      await pool.close();
    }
  });

  it('binds parameters instead of splicing values', async () => {
    const hostile = "x'; drop table t_items; --";
    await duckdb.run('insert into t_items values (?, ?, ?)', [-1n, hostile, 0]);
    const rows = await duckdb.query<{ name: string }>(
      'select name from t_items where _row_id = ?',
      [-1n],
    );
    expect(rows).toEqual([{ name: hostile }]);
  });

  it('refuses to append to a name that is not one of our identifiers', async () => {
    await expect(duckdb.append('t_items"; drop table t_items; --', [])).rejects.toThrow(TypeError);
  });

  it('rolls a transaction back when the work throws', async () => {
    await expect(
      duckdb.transaction(async (connection) => {
        await connection.run('delete from t_items');
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const [row] = await duckdb.query<{ n: bigint }>('select count(*) as n from t_items');
    expect(row!.n).toBeGreaterThan(0n);
  });

  it('lends a fixed set of connections: more concurrent queries than connections all finish', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        duckdb.query<{ v: number }>('select ?::integer as v', [index]),
      ),
    );
    expect(results.map((rows) => rows[0]!.v)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('has the bundled extensions and never installs one', async () => {
    const [setting] = await duckdb.query<{ value: string }>(
      "select current_setting('autoinstall_known_extensions')::varchar as value",
    );
    expect(setting!.value).toBe('false');
    const [json] = await duckdb.query<{ v: string }>(
      `select json_extract_string('{"a":"b"}', '$.a') as v`,
    );
    expect(json!.v).toBe('b');
  });

  it('leaves a WAL past the 16 MiB DuckDB default to the checkpoint asked for, not to a commit', async () => {
    const file = path.join(dir, 'wal.duckdb');
    const db = await openDuckDb({ path: file, connections: 1 });
    try {
      const walBytes = () => (existsSync(`${file}.wal`) ? statSync(`${file}.wal`).size : 0);
      await db.run('create table t_wal (id bigint, text varchar)');
      // ≈ 24 MB of distinct text in one commit: DuckDB's own default would checkpoint in it.
      await db.run(
        `insert into t_wal select i, repeat(md5(i::varchar), 6) from range(120000) t(i)`,
      );
      expect(walBytes()).toBeGreaterThan(16 * 1024 * 1024);
      db.checkpointSoon();
      await db.checkpointsSettled();
      expect(walBytes()).toBe(0);
      const [count] = await db.query<{ n: bigint }>('select count(*) as n from t_wal');
      expect(count!.n).toBe(120_000n);
    } finally {
      await db.close();
    }
  });

  it('keeps data after close and reopen', async () => {
    const file = path.join(dir, 'reopen.duckdb');
    const first = await openDuckDb({ path: file, connections: 1 });
    await first.run('create table kept (v integer)');
    await first.run('insert into kept values (42)');
    await first.close();
    const second = await openDuckDb({ path: file, connections: 1 });
    expect(await second.query('select v from kept')).toEqual([{ v: 42 }]);
    await second.close();
  });
});

describe('per-dataset files and the 0810 upgrade', () => {
  const datasetId = '0190a0b0-0000-7000-8000-00000000abcd';
  const hex = datasetId.replaceAll('-', '');
  const inFile = `"ds_${hex}".main."ds_${hex}"`;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bc-duck-files-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const open = () =>
    openDuckDb({
      path: path.join(dir, 'duckdb', 'braincells.duckdb'),
      datasetsDir: path.join(dir, 'datasets'),
      connections: 2,
      threads: 1,
    });
  const legacyTables = async (duckdb: DuckDb) =>
    (
      await duckdb.query<{ name: string }>(
        `select table_name as name from duckdb_tables() where database_name = 'braincells' order by 1`,
      )
    ).map((row) => row.name);

  it('moves a dataset from the one file into its own, and back with down', async () => {
    const before = await open();
    try {
      // A data dir as the release before 0810 left it: the table, its sequence and index in main.
      await before.run(
        `create table "ds_${hex}" as select (range + 1)::bigint as _row_id, 'v' || range as "col_a", '{"version":1}'::json as "st_a" from range(3)`,
      );
      await before.run(`create sequence "ds_${hex}_seq" start 4`);
      await before.run(`create unique index "ds_${hex}_pk" on "ds_${hex}" (_row_id)`);
      await before.run(`select nextval('ds_${hex}_seq')`); // id 4 was handed out (a deleted row)
    } finally {
      await before.close();
    }

    const upgraded = await open();
    try {
      expect(await migrateDuckDb(upgraded)).toEqual(['0810-dataset-files']);
      expect(await legacyTables(upgraded)).toEqual(['braincells_duckdb_migration']);
      expect(existsSync(path.join(dir, 'datasets', `${datasetId}.duckdb`))).toBe(true);
      expect(upgraded.datasets.attached()).toEqual([]);
      expect(await migrateDuckDb(upgraded)).toEqual([]);
    } finally {
      await upgraded.close();
    }

    // A fresh process finds the values, the next id and the index in the dataset's own file.
    const reopened = await open();
    try {
      await reopened.datasets.open(datasetId);
      expect(
        await reopened.query(
          `select _row_id, "col_a", "st_a"->>'version' as v from ${inFile} order by 1`,
        ),
      ).toEqual([
        { _row_id: 1n, col_a: 'v0', v: '1' },
        { _row_id: 2n, col_a: 'v1', v: '1' },
        { _row_id: 3n, col_a: 'v2', v: '1' },
      ]);
      const [next] = await reopened.query<{ id: bigint }>(
        `select nextval('ds_${hex}.main.ds_${hex}_seq') as id`,
      );
      expect(next!.id).toBe(5n);
      await expect(reopened.run(`insert into ${inFile} (_row_id) values (1)`)).rejects.toThrow(
        /constraint/i,
      );

      expect(await rollbackDuckDb(reopened)).toBe('0810-dataset-files');
      expect(existsSync(path.join(dir, 'datasets', `${datasetId}.duckdb`))).toBe(false);
      expect(await legacyTables(reopened)).toEqual(['braincells_duckdb_migration', `ds_${hex}`]);
      expect(await reopened.query(`select count(*) as n from "ds_${hex}"`)).toEqual([{ n: 3n }]);
      const [after] = await reopened.query<{ id: bigint }>(`select nextval('ds_${hex}_seq') as id`);
      expect(after!.id).toBe(6n);
      await expect(reopened.run(`insert into "ds_${hex}" (_row_id) values (2)`)).rejects.toThrow(
        /constraint/i,
      );
      expect(await rollbackDuckDb(reopened)).toBeUndefined();
    } finally {
      await reopened.close();
    }
  });

  it('attaches a dataset once however many ask at the same time, and deletes its file on remove', async () => {
    const duckdb = await open();
    const other = '0190a0b0-0000-7000-8000-00000000beef';
    try {
      await expect(duckdb.datasets.open(other)).rejects.toThrow(/does not exist/);
      await Promise.all(
        Array.from({ length: 5 }, () => duckdb.datasets.open(other, { create: true })),
      );
      expect(duckdb.datasets.attached()).toContain(other);
      await duckdb.run(`create table "ds_${other.replaceAll('-', '')}".main.t as select 1 as v`);
      await duckdb.datasets.remove(other);
      expect(duckdb.datasets.attached()).not.toContain(other);
      expect(existsSync(path.join(dir, 'datasets', `${other}.duckdb`))).toBe(false);
      await expect(duckdb.datasets.open('not-a-uuid')).rejects.toThrow(TypeError);
    } finally {
      await duckdb.close();
    }
  });
});
