import { type CellRecord, cellRecord } from './sheet-cell-record.ts';
import type { CellWrite, CompareAndSetResult } from './sheet-data-store.ts';
import { dependentFormulas, type FormulaUpdates } from './sheet-formula-updates.ts';
import type { CellsChange } from './sheet-service.ts';
import { columnRef, type SheetContext } from './sheet-service-context.ts';
import type { ColumnRow } from './sheet-store.ts';

/** The cells of one column a commit changed, as they are now. */
export interface CommittedCells {
  column: ColumnRow;
  cells: readonly { rowId: string; cell: CellRecord }[];
}

/**
 * The one path every committed cell change takes (a user's edit or paste, an AI column's
 * result, a staleness mark): one `cells-update` per column for viewers, then the formulas
 * that read the changed columns are recomputed on the changed rows and published too.
 */
export type CellCommits = ReturnType<typeof createCellCommits>;

export function createCellCommits(context: SheetContext, formulas: FormulaUpdates) {
  const { data, publish, extensions } = context;

  /**
   * Runs `write` (a compare-and-set and the formulas it recomputes) inside each extension's
   * `cellsChanged`, the first extension outermost, so an extension can record what must
   * survive a crash before the commit and react after it.
   */
  const changingCells = async <T>(
    projectId: string,
    datasetId: string,
    columns: readonly ColumnRow[],
    written: ReadonlySet<string>,
    rowIds: readonly bigint[],
    write: () => Promise<T>,
  ): Promise<T> => {
    const watching = extensions.filter((extension) => extension.cellsChanged);
    if (watching.length === 0 || rowIds.length === 0) return write();
    const change: CellsChange = {
      projectId,
      datasetId,
      columnIds: [...written, ...dependentFormulas(columns, written).map((formula) => formula.id)],
      rowIds: rowIds.map(String),
    };
    let result: T | undefined;
    const run = watching.reduceRight<() => Promise<void>>(
      (inner, extension) => () => extension.cellsChanged!(change, inner),
      async () => {
        result = await write();
      },
    );
    await run();
    return result as T;
  };

  /** Publishes the current cells of `columns` on `rowIds` (formula columns just recomputed). */
  const publishCells = async (
    datasetId: string,
    columns: readonly ColumnRow[],
    rowIds: readonly bigint[],
  ) => {
    if (columns.length === 0 || rowIds.length === 0) return;
    const cells = await data.readCells(datasetId, columns.map(columnRef), rowIds);
    for (const column of columns) {
      publish(
        datasetId,
        {
          type: 'cells-update',
          columnId: column.id,
          cells: [...cells].map(([rowId, row]) => ({
            rowId,
            cell: cellRecord(row[column.id]!, column.kind),
          })),
        },
        rowIds.length === 1 ? `cell:${rowIds[0]}:${column.id}` : undefined,
      );
    }
  };

  /**
   * Cells were committed: viewers are told, then formulas follow. `coalesceKey` lets a slow
   * viewer's buffer keep only the latest of repeated single-cell events; `valuesChanged:
   * false` (a validation) skips the formulas, which read values only.
   */
  const cellsCommitted = async (
    datasetId: string,
    columns: readonly ColumnRow[],
    changes: readonly CommittedCells[],
    options: { coalesceKey?: string; valuesChanged?: boolean } = {},
  ) => {
    const changedColumns = new Set<string>();
    const changedRows = new Set<string>();
    for (const { column, cells } of changes) {
      if (cells.length === 0) continue;
      publish(datasetId, { type: 'cells-update', columnId: column.id, cells }, options.coalesceKey);
      changedColumns.add(column.id);
      for (const { rowId } of cells) changedRows.add(rowId);
    }
    if (changedRows.size === 0 || options.valuesChanged === false) return;
    const rowIds = [...changedRows].map((id) => BigInt(id));
    const recomputed = await formulas.recompute(datasetId, columns, changedColumns, rowIds);
    await publishCells(datasetId, recomputed, rowIds);
  };

  /**
   * Compare-and-set on one column, then the commit path for the cells it applied. Writes that
   * leave the value as it is (an AI run's `generating` mark, a restore, an error) change what
   * no AI column or formula reads: only the rows whose value is written are checked for
   * staleness and recomputed — a batch of marks costs no metadata query and no formula pass.
   */
  const applyCellWrites = (
    projectId: string,
    datasetId: string,
    columns: readonly ColumnRow[],
    column: ColumnRow,
    writes: CellWrite[],
  ): Promise<CompareAndSetResult> => {
    const valueRows: bigint[] = [];
    for (const write of writes) if (write.value !== undefined) valueRows.push(write.rowId);
    return changingCells(
      projectId,
      datasetId,
      columns,
      new Set([column.id]),
      valueRows,
      async () => {
        const result = await data.compareAndSetCells(datasetId, columnRef(column), writes);
        await cellsCommitted(
          datasetId,
          columns,
          [
            {
              column,
              cells: result.applied.map((cell) => ({
                rowId: cell.rowId,
                cell: cellRecord(cell, column.kind),
              })),
            },
          ],
          { valuesChanged: valueRows.length > 0 },
        );
        return result;
      },
    );
  };

  return { cellsCommitted, applyCellWrites, changingCells };
}
