import type { Actor } from '../access/actor.ts';
import type { SheetContext } from './sheet-service-context.ts';
import { runReadOnlySql } from './sheet-sql.ts';

/**
 * Read-only SQL over one dataset (`SELECT … FROM dataset`), run in the SQL sandbox with the
 * configured timeout and row cap (sheet-sql.ts); the result is plain column names and values.
 */
export function createSqlUseCases(context: SheetContext) {
  const { access, duckdb, settings } = context;
  return {
    async runSql(actor: Actor, projectId: string, datasetId: string, sql: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const { columns } = await context.loadReady(projectId, datasetId);
      return runReadOnlySql(duckdb, {
        datasetId,
        columns: columns.map((column) => ({ id: column.id, name: column.name, type: column.type })),
        sql,
        timeoutMs: settings.sqlTimeoutMs,
        maxRows: settings.sqlMaxRows,
      });
    },
  };
}
