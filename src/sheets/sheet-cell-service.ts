import type { Actor } from '../access/actor.ts';
import { AppError, conflict, notFound, validationError } from '../platform/app-error.ts';
import type { CellCommits, CommittedCells } from './sheet-cell-commit.ts';
import { type CellRecord, cellRecord } from './sheet-cell-record.ts';
import { cellValueToText } from './sheet-cells.ts';
import type { CellWrite, ColumnWrites, CompareAndSetResult } from './sheet-data-store.ts';
import { presentCell } from './sheet-presenter.ts';
import { type BulkCellEdit, type CellValue, MAX_BULK_CELLS } from './sheet-schema.ts';
import { columnRef, type SheetContext } from './sheet-service-context.ts';
import type { ColumnRow } from './sheet-store.ts';

/** A cell written by an edit: where it is, and the cell as it is now. */
export type WrittenCell = CellRecord & { rowId: string; columnId: string };

/** What a user's edit does to a cell's state: done, no error, validated (unless told not). */
const userEditState = (validated = true) => ({
  status: 'done' as const,
  error: null,
  raw: null,
  validated,
});

/**
 * Checks every item of a paste before anything is written (a known column that is not a
 * formula, no cell twice, a value its column's type takes), naming `cells.<index>.<field>`,
 * and groups the writes by column.
 */
function groupBulkEdits(columns: readonly ColumnRow[], cells: BulkCellEdit['cells']) {
  const byId = new Map(columns.map((column) => [column.id, column]));
  const groups = new Map<
    string,
    { column: ColumnRow; writes: ColumnWrites['writes'][number][]; indexes: number[] }
  >();
  const seen = new Set<string>();
  for (const [index, cell] of cells.entries()) {
    const column = byId.get(cell.columnId);
    if (!column)
      throw new AppError('NOT_FOUND', `column not found (cells.${index}.columnId)`, {
        details: { entity: 'column', id: cell.columnId, path: `cells.${index}.columnId` },
      });
    if (column.kind === 'formula')
      throw validationError(
        `cells.${index}.columnId is a formula column; edit the formula or its inputs`,
        [{ path: `cells.${index}.columnId`, message: 'formula column' }],
      );
    const key = `${cell.rowId}:${cell.columnId}`;
    if (seen.has(key))
      throw validationError(`cells.${index} repeats a cell`, [
        { path: `cells.${index}`, message: 'duplicate cell' },
      ]);
    seen.add(key);
    // Cast now, naming the item: nothing is written if any value does not fit.
    cellValueToText(column.type, cell.value, `cells.${index}.value`);
    let group = groups.get(column.id);
    if (!group) {
      group = { column, writes: [], indexes: [] };
      groups.set(column.id, group);
    }
    group.writes.push({
      rowId: BigInt(cell.rowId),
      value: cell.value,
      state: userEditState(),
      ...(cell.expectedVersion === undefined ? {} : { expectedVersion: cell.expectedVersion }),
    });
    group.indexes.push(index);
  }
  return [...groups.values()];
}

/**
 * Cell writes: edit one cell or many (a paste), and the compare-and-set writers of the AI
 * column engine. Every commit takes the one commit path (sheet-cell-commit.ts).
 */
export function createCellUseCases(context: SheetContext, commits: CellCommits) {
  const { data, access, loadReady, loadForEdit, columnOf } = context;
  const { cellsCommitted, applyCellWrites, changingCells } = commits;

  return {
    /**
     * Edits one cell if it is still at the version the client saw; else 409 CONFLICT with
     * the current value and version. An edit validates the cell (issue 6: a validated cell is
     * never regenerated unless asked).
     */
    async editCell(
      actor: Actor,
      projectId: string,
      datasetId: string,
      input: {
        rowId: bigint;
        columnId: string;
        expectedVersion: number;
        value?: CellValue;
        validated?: boolean;
      },
    ): Promise<WrittenCell> {
      const { columns } = await loadForEdit(actor, projectId, datasetId);
      const column = columnOf(columns, input.columnId);
      if (column.kind === 'formula' && input.value !== undefined) {
        throw validationError('Formula cells are computed; edit the formula or its inputs', [
          { path: 'value', message: 'formula column' },
        ]);
      }
      const write: CellWrite = {
        rowId: input.rowId,
        expectedVersion: input.expectedVersion,
        ...(input.value === undefined ? {} : { value: input.value }),
        state:
          input.value === undefined
            ? { validated: input.validated ?? true }
            : userEditState(input.validated),
      };
      // A validation alone changes no value: nothing downstream needs to know.
      const changedRows = input.value === undefined ? [] : [input.rowId];
      return changingCells(
        projectId,
        datasetId,
        columns,
        new Set([column.id]),
        changedRows,
        async () => {
          const result = await data.compareAndSetCells(datasetId, columnRef(column), [write]);
          const lost = result.conflicts[0];
          if (lost) {
            if (!lost.current) throw notFound('row', String(input.rowId));
            // The error envelope leaves the server as it is: its cell is presented here.
            throw conflict('The cell changed since you read it', {
              rowId: lost.rowId,
              columnId: column.id,
              current: presentCell(cellRecord(lost.current, column.kind)),
            });
          }
          const applied = result.applied[0]!;
          const cell = cellRecord(applied, column.kind);
          await cellsCommitted(
            datasetId,
            columns,
            [{ column, cells: [{ rowId: applied.rowId, cell }] }],
            {
              coalesceKey: `cell:${applied.rowId}:${column.id}`,
              valuesChanged: input.value !== undefined,
            },
          );
          return { rowId: applied.rowId, columnId: column.id, ...cell };
        },
      );
    },

    /**
     * Edits many cells at once (a paste), in one DuckDB transaction. Each cell is checked
     * like `editCell`: against the version its writer saw (none given: overwritten), cast to
     * its column's type, validated. A stale cell is a per-cell conflict (returned with its
     * current value and version) while the others are written — a paste is many independent
     * edits, and one cell someone else just changed should not throw away the rest. A bad
     * item (unknown row or column, a formula column, a value of the wrong type, a duplicate)
     * fails the whole request naming `cells.<index>.<field>`, and nothing is written.
     * Publishes one `cells-update` per column written.
     */
    async editCells(
      actor: Actor,
      projectId: string,
      datasetId: string,
      cells: BulkCellEdit['cells'],
    ) {
      const { columns } = await loadForEdit(actor, projectId, datasetId);
      if (cells.length === 0 || cells.length > MAX_BULK_CELLS)
        throw validationError(`Send 1 to ${MAX_BULK_CELLS} cells`, [
          { path: 'cells', message: `1 to ${MAX_BULK_CELLS} cells` },
        ]);
      const ordered = groupBulkEdits(columns, cells);
      const rowIds = [...new Set(cells.map((cell) => cell.rowId))].map((id) => BigInt(id));
      return changingCells(
        projectId,
        datasetId,
        columns,
        new Set(ordered.map((group) => group.column.id)),
        rowIds,
        async () => {
          const result = await data.compareAndSetMany(
            datasetId,
            ordered.map((group) => ({ column: columnRef(group.column), writes: group.writes })),
          );
          if (result.missing.length > 0) {
            const rowId = result.missing[0]!;
            const index = cells.findIndex((cell) => cell.rowId === rowId);
            throw new AppError('NOT_FOUND', `row not found (cells.${index}.rowId)`, {
              details: {
                entity: 'row',
                id: rowId,
                path: `cells.${index}.rowId`,
                missing: result.missing.slice(0, 100),
              },
            });
          }
          const written: WrittenCell[] = [];
          const conflicts: {
            index: number;
            rowId: string;
            columnId: string;
            current: CellRecord;
          }[] = [];
          const committed: CommittedCells[] = [];
          for (const [position, outcome] of result.columns.entries()) {
            const { column, indexes, writes } = ordered[position]!;
            const cells = outcome.applied.map((cell) => ({
              rowId: cell.rowId,
              cell: cellRecord(cell, column.kind),
            }));
            committed.push({ column, cells });
            for (const { rowId, cell } of cells)
              written.push({ rowId, columnId: column.id, ...cell });
            const indexOf = new Map(
              outcome.conflicts.length > 0
                ? writes.map((entry, at) => [entry.rowId.toString(), indexes[at]!])
                : [],
            );
            for (const lost of outcome.conflicts) {
              conflicts.push({
                index: indexOf.get(lost.rowId)!,
                rowId: lost.rowId,
                columnId: column.id,
                // Rows were all found under the lock, so a conflict always has a current cell.
                current: cellRecord(lost.current!, column.kind),
              });
            }
          }
          await cellsCommitted(datasetId, columns, committed);
          conflicts.sort((a, b) => a.index - b.index);
          return { cells: written, conflicts };
        },
      );
    },

    /**
     * Compare-and-set for many cells of one column, for the AI column engine (issue 6): a
     * late result whose cell moved on (a user edit, a validation) is returned as a conflict,
     * never written. Publishes one `cells-update` for the applied cells.
     */
    async writeCells(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      writes: CellWrite[],
    ): Promise<CompareAndSetResult> {
      const { columns } = await loadForEdit(actor, projectId, datasetId);
      return applyCellWrites(projectId, datasetId, columns, columnOf(columns, columnId), writes);
    },

    /**
     * writeCells for a long-running writer (an AI column run committing a batch every few tens
     * of milliseconds): access, the dataset and the column are checked when it opens and again
     * at most every `recheckMs`, so a batch costs DuckDB work only, not metadata queries.
     */
    async openCellWriter(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      options: { recheckMs?: number } = {},
    ): Promise<(writes: CellWrite[]) => Promise<CompareAndSetResult>> {
      await access.requireRole(actor, projectId, 'editor');
      const recheckMs = options.recheckMs ?? 2_000;
      let { columns } = await loadReady(projectId, datasetId);
      let column = columnOf(columns, columnId);
      let checkedAt = Date.now();
      return async (writes) => {
        if (Date.now() - checkedAt >= recheckMs) {
          await access.requireRole(actor, projectId, 'editor');
          ({ columns } = await loadReady(projectId, datasetId));
          column = columnOf(columns, columnId);
          checkedAt = Date.now();
        }
        return applyCellWrites(projectId, datasetId, columns, column, writes);
      };
    },
  };
}
