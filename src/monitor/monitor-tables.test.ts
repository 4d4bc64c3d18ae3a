import { afterEach, describe, expect, it } from 'vitest';
import { type DuckDb, openDuckDb } from '../platform/duckdb/duckdb.ts';
import { ensureMonitorTables } from './monitor-tables.ts';

async function monitorIndexes(duckdb: DuckDb): Promise<string[]> {
  const rows = await duckdb.query(
    "select index_name from duckdb_indexes() where table_name like 'monitor_%' order by 1",
  );
  return rows.map((row) => String(row.index_name));
}

describe('monitor tables', () => {
  let duckdb: DuckDb | undefined;
  afterEach(async () => {
    await duckdb?.close();
    duckdb = undefined;
  });

  it('a new database gets no secondary index (DuckDB never used them)', async () => {
    duckdb = await openDuckDb({ path: ':memory:', connections: 1, threads: 1 });
    await ensureMonitorTables(duckdb);
    expect(await monitorIndexes(duckdb)).toEqual([]);
  });

  it('step 4 drops the indexes an older database has, keeping its rows', async () => {
    duckdb = await openDuckDb({ path: ':memory:', connections: 1, threads: 1 });
    await ensureMonitorTables(duckdb);
    // What steps 1 and 2 created before step 4.
    await duckdb.run(
      'create index monitor_source_file_path on monitor_source_file (project_id, path)',
    );
    await duckdb.run(
      'create index monitor_usage_event_project on monitor_usage_event (project_id, ts)',
    );
    await duckdb.run(
      `insert into monitor_source_file values ('p', 'f', 'claude-code', 'claude-transcript',
        '/a.jsonl', 1, 1, 1, null, 'imported', null, 0, 1, 1, 0, now(), null)`,
    );
    expect(await monitorIndexes(duckdb)).toEqual([
      'monitor_source_file_path',
      'monitor_usage_event_project',
    ]);
    await ensureMonitorTables(duckdb);
    expect(await monitorIndexes(duckdb)).toEqual([]);
    const [row] = await duckdb.query('select count(*) as n from monitor_source_file');
    expect(Number(row?.n)).toBe(1);
    // Run again: nothing left to drop, nothing created.
    await ensureMonitorTables(duckdb);
    expect(await monitorIndexes(duckdb)).toEqual([]);
  });
});
