import type { Actor } from '../access/actor.ts';
import { conflict, validationError } from '../platform/app-error.ts';
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
     * A staged replacement of rows by a key column (one row per document, e.g.): rows are
     * added in parts while the work that makes them runs (checked against the dataset's
     * columns, converted, and seen by no read of the dataset), then `replace` deletes the rows
     * holding the staged rows' keys and inserts the staged ones in one write (sheet-data-store
     * `stage`). `drop` is always called at the end. A column staged whose type changed since,
     * or that is gone, fails the replace (409) instead of writing values of the old type.
     */
    async stageRows(actor: Actor, projectId: string, datasetId: string) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
      const writable = columns.filter((column) => column.kind === 'static').map(columnRef);
      const stage = data.stage(datasetId, writable);
      return {
        add: async (rows: Record<string, CellValue>[], order: readonly number[]) => {
          checkColumns(columns, rows);
          return stage.add(rows, order);
        },
        async replace(keyColumnId: string) {
          await access.requireRole(actor, projectId, 'editor');
          const now = await loadReady(projectId, datasetId);
          const types = new Map(
            now.columns
              .filter((column) => column.kind === 'static')
              .map((column) => [column.id, column.type]),
          );
          if (writable.some((column) => types.get(column.id) !== column.type))
            throw conflict('The columns of the dataset changed while its rows were being written');
          const key = writable.find((column) => column.id === keyColumnId);
          if (!key)
            throw validationError(`Unknown column ${keyColumnId}`, [
              { path: 'keyColumnId', message: 'unknown column' },
            ]);
          const { rowIds, deleted } = await stage.replace(key);
          await formulas.recompute(
            datasetId,
            now.columns,
            'all',
            rowIds.map((id) => BigInt(id)),
          );
          if (deleted.length > 0) publish(datasetId, { type: 'rows-delete', rowIds: deleted });
          publish(datasetId, { type: 'rows-append', rowIds });
          return { rowIds, deleted };
        },
        drop: () => stage.drop(),
      };
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
