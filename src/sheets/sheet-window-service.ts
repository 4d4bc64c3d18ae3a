import type { Actor } from '../access/actor.ts';
import { type CellRecord, cellRecord, type RowRecord, rowRecord } from './sheet-cell-record.ts';
import { type WindowQuery, windowQuerySchema } from './sheet-schema.ts';
import { columnRef, datasetStream, type SheetContext } from './sheet-service-context.ts';

/**
 * Paged reads: a window of rows (offset/limit or keyset, sorted, filtered, searched) for the
 * grid, and cells by row id for the AI column engine. Both return cell records (with the
 * generation internals the engine needs); `presentWindow` in the routes picks what clients see.
 */
export function createWindowUseCases(context: SheetContext) {
  const { data, access, events } = context;
  const { loadReady, columnOf } = context;

  return {
    /** Cells of the listed rows and columns (rows that no longer exist are left out). */
    async readCells(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnIds: readonly string[],
      rowIds: readonly bigint[],
    ): Promise<Map<string, Record<string, CellRecord>>> {
      await access.requireRole(actor, projectId, 'viewer');
      const { columns } = await loadReady(projectId, datasetId);
      const selected = columnIds.map((id) => columnOf(columns, id));
      const cells = await data.readCells(datasetId, selected.map(columnRef), rowIds);
      const rows = new Map<string, Record<string, CellRecord>>();
      for (const [rowId, row] of cells) {
        const records: Record<string, CellRecord> = {};
        for (const column of selected)
          records[column.id] = cellRecord(row[column.id]!, column.kind);
        rows.set(rowId, records);
      }
      return rows;
    },

    async readWindow(
      actor: Actor,
      projectId: string,
      datasetId: string,
      query: Partial<WindowQuery>,
    ): Promise<{ total: number; offset: number; rows: RowRecord[]; lastEventId: number }> {
      await access.requireRole(actor, projectId, 'viewer');
      const { columns } = await loadReady(projectId, datasetId);
      const parsed = windowQuerySchema.parse(query);
      const visible =
        parsed.columns ?? columns.filter((column) => !column.hidden).map((column) => column.id);
      const window = await data.window(datasetId, columns.map(columnRef), {
        ...parsed,
        columns: visible,
      });
      const kinds = new Map(columns.map((column) => [column.id, column.kind]));
      return {
        total: window.total,
        offset:
          parsed.afterRowId === undefined ? parsed.offset : (window.rows[0]?.ordinal ?? 1) - 1,
        rows: window.rows.map((row) => rowRecord(row, kinds)),
        lastEventId: await events.lastId(datasetStream(datasetId)),
      };
    },
  };
}
