import type { Actor } from '../access/actor.ts';
import { validationError } from '../platform/app-error.ts';
import type { FormulaUpdates } from './sheet-formula-updates.ts';
import type { CellValue } from './sheet-schema.ts';
import { columnRef, type SheetContext } from './sheet-service-context.ts';

/**
 * Row use cases: append rows (values keyed by column id; formula columns computed for them)
 * and delete many rows in one statement. Viewers get `rows-append` / `rows-delete`.
 */
export function createRowUseCases(context: SheetContext, formulas: FormulaUpdates) {
  const { data, access, loadReady, publish } = context;
  return {
    async appendRows(
      actor: Actor,
      projectId: string,
      datasetId: string,
      rows: Record<string, CellValue>[],
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
      const writable = columns.filter((column) => column.kind === 'static');
      checkColumns(columns, rows);
      const rowIds = await data.appendRows(datasetId, writable.map(columnRef), rows);
      const ids = rowIds.map((id) => BigInt(id));
      await formulas.recompute(datasetId, columns, 'all', ids);
      publish(datasetId, { type: 'rows-append', rowIds });
      return { rowIds };
    },

    /**
     * Replaces the rows that hold the new rows' values of the key column (e.g. one row per
     * document): the delete and the append are one write, so no row another writer adds
     * meanwhile survives beside its replacement or is lost (sheet-data-store `replaceRows`).
     */
    async replaceRows(
      actor: Actor,
      projectId: string,
      datasetId: string,
      rows: Record<string, CellValue>[],
      keyColumnId: string,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
      checkColumns(columns, rows);
      const key = columns.find((column) => column.id === keyColumnId);
      if (key?.kind !== 'static')
        throw validationError(`Unknown column ${keyColumnId}`, [
          { path: 'keyColumnId', message: 'unknown column' },
        ]);
      const writable = columns.filter((column) => column.kind === 'static');
      const { rowIds, deleted } = await data.replaceRows(
        datasetId,
        writable.map(columnRef),
        rows,
        columnRef(key),
      );
      await formulas.recompute(
        datasetId,
        columns,
        'all',
        rowIds.map((id) => BigInt(id)),
      );
      if (deleted.length > 0) publish(datasetId, { type: 'rows-delete', rowIds: deleted });
      publish(datasetId, { type: 'rows-append', rowIds });
      return { rowIds, deleted };
    },

    async deleteRows(actor: Actor, projectId: string, datasetId: string, rowIds: bigint[]) {
      await access.requireRole(actor, projectId, 'editor');
      await loadReady(projectId, datasetId);
      const deleted = await data.deleteRows(datasetId, rowIds);
      publish(datasetId, { type: 'rows-delete', rowIds: rowIds.map(String) });
      return { deleted };
    },
  };
}

/** Every key of every row names a column of the dataset (400 naming the row otherwise). */
function checkColumns(
  columns: readonly { id: string }[],
  rows: readonly Record<string, CellValue>[],
) {
  const known = new Set(columns.map((column) => column.id));
  for (const [index, row] of rows.entries()) {
    for (const key of Object.keys(row)) {
      if (!known.has(key))
        throw validationError(`Unknown column ${key}`, [
          { path: `rows.${index}`, message: 'unknown column' },
        ]);
    }
  }
}
