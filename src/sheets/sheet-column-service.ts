import type { Transaction } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { DB } from '../migrations/db-schema.ts';
import { conflict, validationError } from '../platform/app-error.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { SheetDataStore } from './sheet-data-store.ts';
import { compileFormula, formulaInputs } from './sheet-formula.ts';
import { type FormulaUpdates, namesOf } from './sheet-formula-updates.ts';
import {
  type ColumnType,
  type CreateColumnInput,
  createColumnSchema,
  nameSchema,
} from './sheet-schema.ts';
import { columnRef, type SheetContext } from './sheet-service-context.ts';
import type { ColumnRow } from './sheet-store.ts';

/**
 * Writes a new column: its DuckDB columns first (unseen until its row commits), then
 * `prepare` (which may fill them and returns the transaction's work besides the row), then
 * the row, shifting the columns at and after its position, in one transaction. A failure
 * of any step drops the DuckDB columns again: nothing is left behind.
 */
export async function insertColumn(
  context: Pick<SheetContext, 'store' | 'data'>,
  datasetId: string,
  columns: readonly ColumnRow[],
  column: ColumnRow,
  prepare: () => Promise<
    | {
        kind?: ColumnRow['kind'];
        write?: (trx: Transaction<DB>, row: ColumnRow) => Promise<void>;
      }
    | undefined
  >,
) {
  const { store, data } = context;
  if (columns.some((existing) => existing.name.toLowerCase() === column.name.toLowerCase())) {
    throw conflict(`A column named ${column.name} already exists`);
  }
  await data.addColumn(datasetId, columnRef(column));
  try {
    const prepared = await prepare();
    await store.transaction(async (trx) => {
      // Make room at the requested position.
      for (const existing of columns) {
        if (existing.position >= column.position)
          await store.updateColumn(existing.id, { position: existing.position + 1 }, trx);
      }
      const [inserted] = await store.insertColumns(
        [
          {
            id: column.id,
            dataset_id: datasetId,
            name: column.name,
            type: column.type,
            kind: prepared?.kind ?? column.kind,
            formula: column.formula,
            position: column.position,
          },
        ],
        trx,
      );
      await prepared?.write?.(trx, inserted!);
    });
  } catch (error) {
    await data.dropColumn(datasetId, column.id).catch(() => {});
    if (isUniqueViolation(error)) throw conflict(`A column named ${column.name} already exists`);
    throw error;
  }
}

export type ColumnUseCases = ReturnType<typeof createColumnUseCases>;

/** Publishes the dataset's columns as they are now, and returns them. */
export async function publishColumns(
  context: Pick<SheetContext, 'store' | 'publish'>,
  datasetId: string,
) {
  const after = await context.store.listColumns(datasetId);
  context.publish(datasetId, { type: 'columns-change', columns: after });
  return after;
}

/**
 * Column use cases: add (static, formula, or an extension's kind), change, reorder (delete
 * and duplicate have files of their own). They return column rows (`presentColumn` in the routes shows a formula with the
 * current column names) and publish `columns-change` with the dataset's columns.
 */
export function createColumnUseCases(context: SheetContext, formulas: FormulaUpdates) {
  const { store, data, loadForEdit, columnOf, publish } = context;

  const columnsChanged = (datasetId: string) => publishColumns(context, datasetId);

  const useCases = {
    /**
     * Adds a column. `options.ai` makes it an AI column (issue 6): the callback writes the
     * column's process inside the same transaction as the column row, so a failure of either
     * leaves nothing behind.
     */
    async addColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      input: CreateColumnInput,
      options: { ai?: (trx: Transaction<DB>, column: ColumnRow) => Promise<void> } = {},
    ): Promise<ColumnRow> {
      const { columns } = await loadForEdit(actor, projectId, datasetId);
      const parsed = createColumnSchema.parse(input);
      if (options.ai && parsed.formula !== undefined)
        throw validationError('An AI column has no formula', [
          { path: 'formula', message: 'not allowed on an AI column' },
        ]);
      if (parsed.type === 'image' && parsed.formula !== undefined)
        throw validationError('A formula cannot compute images', [
          { path: 'type', message: 'not allowed on a formula column' },
        ]);
      const formula =
        parsed.formula === undefined
          ? null
          : await formulas.validateFormula(columns, parsed.formula);
      const column = {
        id: uuidv7(),
        dataset_id: datasetId,
        name: parsed.name,
        type: parsed.type,
        kind: options.ai ? 'ai' : formula === null ? 'static' : 'formula',
        formula,
        position: parsed.position ?? columns.length,
        hidden: false,
      } as ColumnRow;
      // A formula is computed before its column row is written: if it fails as a whole (it
      // does not bind, times out, runs out of memory) the request fails and nothing is left.
      await insertColumn(context, datasetId, columns, column, async () => {
        if (formula !== null)
          await data.recomputeFormula(datasetId, columnRef(column), compileFormula(formula), {
            inputs: formulaInputs(formula),
            names: namesOf([...columns, column]),
            strict: true,
          });
        return options.ai ? { write: options.ai } : undefined;
      });
      const after = await columnsChanged(datasetId);
      return after.find((candidate) => candidate.id === column.id)!;
    },

    /** Returns the column and the dataset's columns after the change (and a retype's report). */
    async updateColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      changes: { name?: string; type?: ColumnType; hidden?: boolean; formula?: string },
    ) {
      const { columns } = await loadForEdit(actor, projectId, datasetId);
      const column = columnOf(columns, columnId);
      let typeChange: Awaited<ReturnType<SheetDataStore['changeColumnType']>> | undefined;
      // Every check before any write: a formula that does not parse or bind changes nothing.
      let stored: string | undefined;
      // Image cells hold references the image routes write (docs/images.md): no other type's
      // values convert into one, and a formula computes none.
      if (changes.type !== undefined && changes.type !== column.type && changes.type === 'image')
        throw validationError('A column cannot be changed to the image type; add an image column', [
          { path: 'type', message: 'cannot convert to image' },
        ]);
      if (changes.formula !== undefined) {
        if (column.kind !== 'formula')
          throw validationError('Only formula columns have a formula', [
            { path: 'formula', message: 'not a formula column' },
          ]);
        stored = await formulas.validateFormula(columns, changes.formula, columnId);
        await data.recomputeFormula(
          datasetId,
          { ...columnRef(column), type: changes.type ?? column.type },
          compileFormula(stored),
          { inputs: formulaInputs(stored), names: namesOf(columns), bindOnly: true },
        );
      }
      if (changes.name !== undefined) {
        const name = nameSchema.parse(changes.name);
        if (
          columns.some(
            (other) => other.id !== columnId && other.name.toLowerCase() === name.toLowerCase(),
          )
        ) {
          throw conflict(`A column named ${name} already exists`);
        }
        await store.updateColumn(columnId, { name });
      }
      if (changes.hidden !== undefined)
        await store.updateColumn(columnId, { hidden: changes.hidden });
      if (stored !== undefined) await store.updateColumn(columnId, { formula: stored });
      if (changes.type !== undefined && changes.type !== column.type) {
        typeChange = await data.changeColumnType(datasetId, columnId, changes.type);
        await store.updateColumn(columnId, { type: changes.type });
      }
      const after = await store.listColumns(datasetId);
      if (changes.formula !== undefined || typeChange) {
        const changed = new Set([columnId]);
        const self = after.find((candidate) => candidate.id === columnId)!;
        if (self.kind === 'formula')
          await data.recomputeFormula(datasetId, columnRef(self), compileFormula(self.formula!), {
            inputs: formulaInputs(self.formula!),
            names: namesOf(after),
          });
        await formulas.recompute(datasetId, after, changed);
      }
      publish(datasetId, { type: 'columns-change', columns: after });
      return {
        column: after.find((candidate) => candidate.id === columnId)!,
        columns: after,
        ...(typeChange ? { conversion: typeChange } : {}),
      };
    },

    /** Returns the dataset's columns in their new order. */
    async reorderColumns(actor: Actor, projectId: string, datasetId: string, columnIds: string[]) {
      const { columns } = await loadForEdit(actor, projectId, datasetId);
      const known = new Set(columns.map((column) => column.id));
      if (
        columnIds.length !== columns.length ||
        new Set(columnIds).size !== columnIds.length ||
        columnIds.some((id) => !known.has(id))
      ) {
        throw validationError('columnIds must list every column once', [
          { path: 'columnIds', message: 'must list every column once' },
        ]);
      }
      await store.transaction(async (trx) => {
        for (const [position, id] of columnIds.entries())
          await store.updateColumn(id, { position }, trx);
      });
      return columnsChanged(datasetId);
    },
  };
  return useCases;
}
