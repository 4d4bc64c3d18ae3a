import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDb, openDuckDb } from './duckdb.ts';

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
