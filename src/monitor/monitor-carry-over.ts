import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import { quoteIdentifier } from '../platform/duckdb/duckdb-identifiers.ts';
import {
  ensureMonitorTablesOn,
  FILE_TABLES,
  RECOUNT_SQL,
  rollupInsertSql,
} from './monitor-tables.ts';

/** The catalog a project's file is attached as, in the data dir's instance, while rows move. */
const CARRY = 'monitor_carry';

const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;

export interface CarryOverResult {
  /** Source files whose rows were copied into the project's file. */
  files: number;
  /** Source files left out: the project's file already had them (same file id or path). */
  skipped: number;
}

/**
 * Whether the data dir's DuckDB (`legacy`) still holds monitor rows of the project: rows a
 * server imported when it was alone, before the deployment went shared.
 */
export async function hasLegacyMonitorRows(legacy: DuckDb, projectId: string): Promise<boolean> {
  const [row] = await legacy.query<{ n: bigint }>(
    `select count(*) as n from duckdb_tables()
     where table_name = 'monitor_source_file' and database_name = current_database()`,
  );
  if (!row || Number(row.n) === 0) return false;
  const [found] = await legacy.query<{ n: bigint }>(
    'select count(*) as n from (select 1 from monitor_source_file where project_id = $1 limit 1)',
    [projectId],
  );
  return Number(found?.n ?? 0) > 0;
}

/** The projects whose monitor rows are still in the data dir's DuckDB (none without tables). */
export async function legacyMonitorProjects(legacy: DuckDb): Promise<string[]> {
  const [row] = await legacy.query<{ n: bigint }>(
    `select count(*) as n from duckdb_tables()
     where table_name = 'monitor_source_file' and database_name = current_database()`,
  );
  if (!row || Number(row.n) === 0) return [];
  const rows = await legacy.query<{ project_id: string }>(
    'select distinct project_id from monitor_source_file order by project_id',
  );
  return rows.map((entry) => String(entry.project_id));
}

/**
 * Moves a project's monitor rows from the data dir's DuckDB (one server's, from before the
 * deployment went shared) into the project's own file, `target`
 * (docs/decisions/2026-12-07-monitor-carry-over.md). Call holding the project's lease, with
 * the file closed everywhere (it is attached here for the copy).
 *
 * 1. One transaction in the project's file copies every source file of the project whose
 *    file id and path the project's file does not have yet, with all of its rows (a file the
 *    project's file has — copied before, or imported there again from the same path — is left
 *    out: its rows there are the newer ones), then decides `counted` again for the project's
 *    events (copies of one call in several files count once, as after a re-import) and sums
 *    its rollup again.
 * 2. Only then, in the data dir's file, the project's rows are deleted.
 *
 * A crash between 1 and 2 leaves both; the next run copies nothing (every file id is there)
 * and deletes. So the file ids are the marker: nothing is counted twice, whatever stops where.
 * `afterCopy` is a seam for tests (a crash between the two steps).
 */
export async function carryOverMonitorRows(options: {
  legacy: DuckDb;
  target: string;
  projectId: string;
  afterCopy?: () => void | Promise<void>;
}): Promise<CarryOverResult | undefined> {
  const { legacy, target, projectId } = options;
  if (!(await hasLegacyMonitorRows(legacy, projectId))) return undefined;
  await mkdir(path.dirname(target), { recursive: true });
  const result = await legacy.withConnection(async (connection) => {
    const [home] = (
      await connection.runAndReadAll('select current_database() as name')
    ).getRowObjectsJS() as [{ name: string }];
    const main = quoteIdentifier(home.name);
    await connection.run(`attach ${sqlString(target)} as ${CARRY}`);
    try {
      await connection.run(`use ${CARRY}`);
      await connection.run('begin transaction');
      try {
        await ensureMonitorTablesOn(connection);
        // The data dir's files of the project that the project's file has by neither id nor path.
        const missing = `select s.file_id from ${main}.main.monitor_source_file s
          where s.project_id = $1 and not exists (
            select 1 from monitor_source_file c
            where c.project_id = $1 and (c.file_id = s.file_id or c.path = s.path))`;
        const [counts] = (
          await connection.runAndReadAll(
            `select (select count(*) from (${missing})) as files,
               (select count(*) from ${main}.main.monitor_source_file where project_id = $1) as total`,
            [projectId],
          )
        ).getRowObjectsJS() as [{ files: bigint; total: bigint }];
        const files = Number(counts.files);
        if (files > 0) {
          // By name: a data dir from an older schema lacks later columns (null here).
          for (const table of FILE_TABLES)
            await connection.run(
              `insert into ${table} by name select * from ${main}.main.${table}
               where project_id = $1 and file_id in (${missing})`,
              [projectId],
            );
          // Last: the rows above were chosen by what this table did not have yet.
          await connection.run(
            `insert into monitor_source_file by name select * from ${main}.main.monitor_source_file
             where project_id = $1 and file_id in (${missing})`,
            [projectId],
          );
          await connection.run(
            'create or replace temp table monitor_affected (event_key varchar, message_id varchar)',
          );
          await connection.run(
            `insert into monitor_affected select distinct event_key,
               case when source = 'opencode' then message_id end
             from monitor_usage_event where project_id = $1`,
            [projectId],
          );
          await connection.run(RECOUNT_SQL, [projectId]);
          await connection.run('drop table monitor_affected');
          await connection.run('delete from monitor_usage_rollup where project_id = $1', [
            projectId,
          ]);
          await connection.run(rollupInsertSql('and project_id = $1'), [projectId]);
        }
        await connection.run('commit');
        return { files, skipped: Number(counts.total) - files };
      } catch (error) {
        await connection.run('rollback').catch(() => {});
        throw error;
      }
    } finally {
      await connection.run(`use ${main}`);
      await connection.run(`detach database if exists ${CARRY}`);
    }
  });
  await options.afterCopy?.();
  // (A data dir from before the rollup existed has no rollup table.)
  const present = new Set(
    (
      await legacy.query<{ table_name: string }>(
        `select table_name from duckdb_tables() where database_name = current_database()`,
      )
    ).map((row) => row.table_name),
  );
  await legacy.transaction(async (connection) => {
    for (const table of [...FILE_TABLES, 'monitor_source_file', 'monitor_usage_rollup'])
      if (present.has(table))
        await connection.run(`delete from ${table} where project_id = $1`, [projectId]);
  });
  return result;
}
