import type { Transaction } from 'kysely';
import type { Actor } from '../auth/actor.ts';
import type { DB } from '../migrations/db-schema.ts';
import { AppError, conflict, notFound, validationError } from '../platform/app-error.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import type { EventBus } from '../platform/events.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { cellValueToText } from './sheet-cells.ts';
import type {
  CellWrite,
  ColumnWrites,
  CompareAndSetResult,
  RowRead,
  SheetDataStore,
} from './sheet-data-store.ts';
import {
  checkFormula,
  compileFormula,
  displayFormula,
  formulaInputs,
  storeFormula,
} from './sheet-formula.ts';
import { presentCell, presentColumn, presentDataset, presentRow } from './sheet-presenter.ts';
import type { ColumnRef } from './sheet-query.ts';
import {
  type BulkCellEdit,
  type CellValue,
  type ColumnType,
  type CreateColumnInput,
  type CreateDatasetInput,
  createColumnSchema,
  createDatasetSchema,
  MAX_BULK_CELLS,
  nameSchema,
  type WindowQuery,
  windowQuerySchema,
} from './sheet-schema.ts';
import { runReadOnlySql } from './sheet-sql.ts';
import type { ColumnRow, DatasetRow, SheetStore } from './sheet-store.ts';

/** The user id to record as creator (the system actor has no user row). */
const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);

export interface SheetServiceDeps {
  store: SheetStore;
  data: SheetDataStore;
  access: ProjectAccess;
  events: EventBus;
  duckdb: DuckDb;
  settings: { retentionDays: number; sqlTimeoutMs: number; sqlMaxRows: number };
}

/** The SSE stream of one dataset's changes. */
export const datasetStream = (datasetId: string) => `dataset:${datasetId}`;

/**
 * A module whose columns read other columns outside formulas — AI columns (issue 6) — plugged
 * into the column and dataset use cases with `sheets.extend()`; the sheets feature never
 * imports it.
 */
export interface SheetExtension {
  /** The column kinds this extension owns (it copies them; `ai` for AI columns). */
  readonly kinds: readonly ColumnRow['kind'][];
  /** Columns (besides formulas) whose definition reads `columnId`, with their names. */
  readersOf(datasetId: string, columnId: string): Promise<{ id: string; name: string }[]>;
  /**
   * A forced delete of a column that `readerIds` read: `remove` deletes it, and the extension
   * does what its columns need around that (stop their runs first, mark their cells after).
   */
  removeInput(
    change: { projectId: string; datasetId: string; columnId: string; readerIds: string[] },
    remove: () => Promise<void>,
  ): Promise<void>;
  /**
   * A dataset is being copied: its values and cell states are in the copy's table, which
   * nobody sees yet (`cells` reads and rewrites it). The function returned, if any, runs in
   * the transaction that writes the copy's dataset and columns.
   */
  copyDataset(copy: DatasetCopy): Promise<((trx: Transaction<DB>) => Promise<void>) | undefined>;
  /**
   * A column of the extension's kind is being duplicated: its values and cell states are in
   * the copy's column, which nobody sees yet (`cells` reads the dataset with it, and rewrites
   * it). The function returned, if any, runs in the transaction that writes the copy's column
   * row; `undefined` makes the copy a plain column.
   */
  copyColumn(copy: ColumnCopy): Promise<((trx: Transaction<DB>) => Promise<void>) | undefined>;
  /**
   * Cells are being written with compare-and-set (an edit, a paste, an AI result) and the
   * formulas reading them recomputed: `commit` does it. The extension records first what must
   * survive a crash between the commit and its reaction (AI cells to check for staleness),
   * then calls `commit`, then reacts.
   */
  cellsChanged?(change: CellsChange, commit: () => Promise<void>): Promise<void>;
}

/** Cells a write may change: the written column's and the formulas that read it, in `rowIds`. */
export interface CellsChange {
  projectId: string;
  datasetId: string;
  columnIds: readonly string[];
  rowIds: readonly string[];
}

/** Cells of a copy no one sees yet: read in pages, rewritten without events. */
export interface CopiedCells {
  /** The rows in row id order, in pages, with the cells of `columnIds`. */
  scan(columnIds: readonly string[]): AsyncIterable<RowRead[]>;
  /** Compare-and-set on the copy's cells of one column (no events: nobody watches it yet). */
  write(columnId: string, writes: CellWrite[]): Promise<CompareAndSetResult>;
}

export interface DatasetCopy {
  actor: Actor;
  projectId: string;
  sourceId: string;
  copyId: string;
  /** The source's columns, and the copy's id of each. */
  columns: readonly ColumnRow[];
  columnIds: ReadonlyMap<string, string>;
  /** The copy's cells (copy column ids). */
  cells: CopiedCells;
}

export interface ColumnCopy {
  actor: Actor;
  projectId: string;
  datasetId: string;
  /** The dataset's columns (the copy is not among them yet). */
  columns: readonly ColumnRow[];
  sourceId: string;
  copyId: string;
  name: string;
  /** The dataset's cells, the copy's column included. */
  cells: CopiedCells;
}

/** What a user's edit does to a cell's state: done, no error, validated (unless told not). */
const userEditState = (validated = true) => ({
  status: 'done' as const,
  error: null,
  raw: null,
  validated,
});

const columnRef = (column: ColumnRow): ColumnRef => ({
  id: column.id,
  type: column.type,
  kind: column.kind,
});

/** Sheets use cases: an access check on the first line of each, then stores, then events. */
export function createSheetService(deps: SheetServiceDeps) {
  const { store, data, access, events, duckdb, settings } = deps;
  /** Every module plugged in with `extend()`, in order; each sees every change. */
  const extensions: SheetExtension[] = [];
  const ownerOf = (kind: ColumnRow['kind']) =>
    extensions.find((candidate) => candidate.kinds.includes(kind));

  const loadDataset = async (
    projectId: string,
    datasetId: string,
    options: { includeDeleted?: boolean } = {},
  ) => {
    const dataset = await store.findDataset(projectId, datasetId, options);
    if (!dataset) throw notFound('dataset', datasetId);
    return dataset;
  };
  const loadReady = async (projectId: string, datasetId: string) => {
    const found = await store.findDatasetWithColumns(projectId, datasetId);
    if (!found) throw notFound('dataset', datasetId);
    const { dataset, columns } = found;
    if (dataset.status !== 'ready')
      throw conflict(`Dataset is ${dataset.status}`, { status: dataset.status });
    return { dataset, columns };
  };
  const columnOf = (columns: readonly ColumnRow[], columnId: string) => {
    const column = columns.find((candidate) => candidate.id === columnId);
    if (!column) throw notFound('column', columnId);
    return column;
  };
  const publish = (datasetId: string, type: string, payload: unknown, coalesceKey?: string) =>
    events.publish(datasetStream(datasetId), {
      type,
      data: payload,
      ...(coalesceKey ? { coalesceKey } : {}),
    });
  /** Reads and writes cells of a table or column no one sees yet (no events). */
  const copiedCells = (datasetId: string, columns: readonly ColumnRow[]): CopiedCells => {
    const refs = new Map(columns.map((column) => [column.id, columnRef(column)]));
    return {
      async *scan(columnIds) {
        const selected = columnIds.map((id) => refs.get(id)!);
        let afterRowId: string | undefined;
        while (true) {
          const page = await data.window(
            datasetId,
            selected,
            windowQuerySchema.parse({ afterRowId, limit: 1_000, columns: columnIds }),
          );
          if (page.rows.length > 0) yield page.rows;
          if (page.rows.length < 1_000) return;
          afterRowId = page.rows.at(-1)!.rowId;
        }
      },
      write: (columnId, writes) => data.compareAndSetCells(datasetId, refs.get(columnId)!, writes),
    };
  };

  /**
   * Writes a new column: its DuckDB columns first (unseen until its row commits), then
   * `prepare` (which may fill them and returns the transaction's work besides the row), then
   * the row, shifting the columns at and after its position, in one transaction. A failure
   * of any step drops the DuckDB columns again: nothing is left behind.
   */
  const insertColumn = async (
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
  ) => {
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
  };

  const publishColumns = (datasetId: string, columns: readonly ColumnRow[]) =>
    publish(datasetId, 'columns-change', {
      columns: columns.map((column) => presentColumn(column, columns)),
    });

  /** Formula columns that depend (directly or through other formulas) on `changed`, in evaluation order. */
  const dependentFormulas = (
    columns: readonly ColumnRow[],
    changed: ReadonlySet<string> | 'all',
  ) => {
    const formulas = columns.filter(
      (column) => column.kind === 'formula' && column.formula !== null,
    );
    const ordered: ColumnRow[] = [];
    const dirty = new Set(changed === 'all' ? columns.map((column) => column.id) : changed);
    const remaining = new Set(formulas);
    // Formulas form a DAG (cycles are refused at creation): peel off ready ones.
    let progress = true;
    while (progress && remaining.size > 0) {
      progress = false;
      for (const formula of remaining) {
        const inputs = formulaInputs(formula.formula!);
        const waiting = inputs.some((id) => [...remaining].some((other) => other.id === id));
        if (waiting) continue;
        remaining.delete(formula);
        progress = true;
        if (inputs.some((id) => dirty.has(id)) || changed === 'all') {
          ordered.push(formula);
          dirty.add(formula.id);
        }
      }
    }
    return ordered;
  };

  const namesOf = (columns: readonly ColumnRow[]) =>
    new Map(columns.map((column) => [column.id, column.name]));

  const recompute = async (
    datasetId: string,
    columns: readonly ColumnRow[],
    changed: ReadonlySet<string> | 'all',
    rowIds?: readonly bigint[],
  ) => {
    const formulas = dependentFormulas(columns, changed);
    // In evaluation order, in one sandbox session: a formula reads those computed before it.
    await data.recomputeFormulas(
      datasetId,
      formulas.map((formula) => ({
        column: columnRef(formula),
        expression: compileFormula(formula.formula!),
        inputs: formulaInputs(formula.formula!),
      })),
      { rowIds, names: namesOf(columns) },
    );
    return formulas;
  };

  const publishCells = async (
    datasetId: string,
    columns: readonly ColumnRow[],
    rowIds: readonly bigint[],
  ) => {
    if (columns.length === 0 || rowIds.length === 0) return;
    const cells = await data.readCells(datasetId, columns.map(columnRef), rowIds);
    for (const column of columns) {
      const updates = [...cells].map(([rowId, row]) => ({
        rowId,
        ...presentCell(row[column.id]!, column.kind),
      }));
      publish(
        datasetId,
        'cells-update',
        { columnId: column.id, cells: updates },
        rowIds.length === 1 ? `cell:${rowIds[0]}:${column.id}` : undefined,
      );
    }
  };

  /**
   * Runs `write` (a compare-and-set and the formulas it recomputes) inside each extension's
   * `cellsChanged`, the first extension outermost.
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

  /** Compare-and-set, then one `cells-update` and the formulas that read the column. */
  const applyCellWrites = (
    projectId: string,
    datasetId: string,
    columns: readonly ColumnRow[],
    column: ColumnRow,
    writes: CellWrite[],
  ): Promise<CompareAndSetResult> =>
    changingCells(
      projectId,
      datasetId,
      columns,
      new Set([column.id]),
      writes.map((write) => write.rowId),
      () => commitCellWrites(datasetId, columns, column, writes),
    );

  const commitCellWrites = async (
    datasetId: string,
    columns: readonly ColumnRow[],
    column: ColumnRow,
    writes: CellWrite[],
  ): Promise<CompareAndSetResult> => {
    const result = await data.compareAndSetCells(datasetId, columnRef(column), writes);
    if (result.applied.length > 0) {
      publish(datasetId, 'cells-update', {
        columnId: column.id,
        cells: result.applied.map((cell) => ({
          rowId: cell.rowId,
          ...presentCell({ value: cell.value, state: cell.state }, column.kind),
        })),
      });
      const rowIds = result.applied.map((cell) => BigInt(cell.rowId));
      const formulas = await recompute(datasetId, columns, new Set([column.id]), rowIds);
      await publishCells(datasetId, formulas, rowIds);
    }
    return result;
  };

  const validateFormula = async (columns: readonly ColumnRow[], text: string, selfId?: string) => {
    const candidates = columns.filter((column) => column.id !== selfId);
    const { stored, inputs } = storeFormula(text, candidates);
    // Cycles: an input may not (transitively) depend on this column.
    if (selfId) {
      const byId = new Map(columns.map((column) => [column.id, column]));
      const seen = new Set<string>();
      const stack = [...inputs];
      while (stack.length > 0) {
        const id = stack.pop()!;
        if (id === selfId)
          throw validationError('Formula would depend on itself', [
            { path: 'formula', message: 'cycle' },
          ]);
        if (seen.has(id)) continue;
        seen.add(id);
        const formula = byId.get(id)?.formula;
        if (formula) stack.push(...formulaInputs(formula));
      }
    }
    await duckdb.withConnection((connection) =>
      checkFormula(
        connection,
        compileFormula(stored),
        candidates.map((column) => column.id),
      ),
    );
    return stored;
  };

  const service = {
    async listDatasets(actor: Actor, projectId: string, options: { deleted?: boolean } = {}) {
      await access.requireRole(actor, projectId, 'viewer');
      const datasets = await store.listDatasets(projectId, options);
      return Promise.all(
        datasets.map(async (dataset) =>
          presentDataset(
            dataset,
            await store.listColumns(dataset.id),
            dataset.status === 'ready' && !dataset.deleted_at
              ? await data.rowCount(dataset.id)
              : null,
          ),
        ),
      );
    },

    async getDataset(actor: Actor, projectId: string, datasetId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const dataset = await loadDataset(projectId, datasetId);
      const columns = await store.listColumns(datasetId);
      return presentDataset(
        dataset,
        columns,
        dataset.status === 'ready' ? await data.rowCount(datasetId) : null,
      );
    },

    async createDataset(actor: Actor, projectId: string, input: CreateDatasetInput) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = createDatasetSchema.parse(input);
      const names = new Set<string>();
      for (const column of parsed.columns) {
        if (names.has(column.name.toLowerCase()))
          throw validationError(`Duplicate column name ${column.name}`, [
            { path: 'columns.name', message: 'duplicate' },
          ]);
        names.add(column.name.toLowerCase());
      }
      const datasetId = uuidv7();
      const columnRows = parsed.columns.map((column, position) => ({
        id: uuidv7(),
        dataset_id: datasetId,
        name: column.name,
        type: column.type,
        position,
      }));
      // DuckDB first: if it fails, no metadata points at a missing table.
      await data.createTable(
        datasetId,
        columnRows.map((column) => ({ id: column.id, type: column.type, kind: 'static' as const })),
        parsed.rows,
      );
      try {
        const dataset = await store.transaction(async (trx) => {
          const row = await store.insertDataset(
            {
              id: datasetId,
              project_id: projectId,
              name: parsed.name,
              created_by: creatorOf(actor),
            },
            trx,
          );
          await store.insertColumns(columnRows, trx);
          return row;
        });
        return presentDataset(dataset, await store.listColumns(datasetId), parsed.rows);
      } catch (error) {
        await data.dropTable(datasetId).catch(() => {});
        throw error;
      }
    },

    async renameDataset(actor: Actor, projectId: string, datasetId: string, name: string) {
      await access.requireRole(actor, projectId, 'editor');
      await loadDataset(projectId, datasetId);
      const updated = await store.updateDataset(datasetId, { name: nameSchema.parse(name) });
      publish(datasetId, 'dataset-change', { name: updated!.name });
      return service.getDataset(actor, projectId, datasetId);
    },

    async duplicateDataset(actor: Actor, projectId: string, datasetId: string, name?: string) {
      await access.requireRole(actor, projectId, 'editor');
      const { dataset, columns } = await loadReady(projectId, datasetId);
      const copyId = uuidv7();
      const copies = columns.map((column) => ({ ...column, id: uuidv7(), dataset_id: copyId }));
      const idMap = new Map(columns.map((column, index) => [column.id, copies[index]!.id]));
      await data.duplicateTable(datasetId, copyId, idMap);
      try {
        const copyExtras = await Promise.all(
          extensions.map((extension) =>
            extension.copyDataset({
              actor,
              projectId,
              sourceId: datasetId,
              copyId,
              columns,
              columnIds: idMap,
              cells: copiedCells(copyId, copies),
            }),
          ),
        );
        await store.transaction(async (trx) => {
          await store.insertDataset(
            {
              id: copyId,
              project_id: projectId,
              name: nameSchema.parse(name ?? `${dataset.name} (copy)`.slice(0, 200)),
              created_by: creatorOf(actor),
            },
            trx,
          );
          await store.insertColumns(
            copies.map((column) => ({
              id: column.id,
              dataset_id: copyId,
              name: column.name,
              type: column.type,
              kind: column.kind,
              // Formula references point at the copy's columns.
              formula:
                column.formula?.replace(
                  /\{\{#([0-9a-f-]{36})\}\}/g,
                  (_, id: string) => `{{#${idMap.get(id) ?? id}}}`,
                ) ?? null,
              position: column.position,
              hidden: column.hidden,
            })),
            trx,
          );
          for (const copyExtra of copyExtras) await copyExtra?.(trx);
        });
      } catch (error) {
        await data.dropTable(copyId).catch(() => {});
        throw error;
      }
      return service.getDataset(actor, projectId, copyId);
    },

    /** Soft delete: restorable for the retention period, then purged by `sheets.purge-datasets`. */
    async deleteDataset(actor: Actor, projectId: string, datasetId: string) {
      await access.requireRole(actor, projectId, 'editor');
      await loadDataset(projectId, datasetId);
      const now = new Date();
      await store.updateDataset(datasetId, {
        deleted_at: now,
        purge_after: new Date(now.getTime() + settings.retentionDays * 86_400_000),
      });
      publish(datasetId, 'dataset-delete', { id: datasetId });
    },

    async restoreDataset(actor: Actor, projectId: string, datasetId: string) {
      await access.requireRole(actor, projectId, 'editor');
      const dataset = await loadDataset(projectId, datasetId, { includeDeleted: true });
      if (!dataset.deleted_at) return service.getDataset(actor, projectId, datasetId);
      await store.updateDataset(datasetId, { deleted_at: null, purge_after: null });
      return service.getDataset(actor, projectId, datasetId);
    },

    /** System use case (the purge job): drops datasets whose restore window has passed. */
    async purgeExpiredDatasets(now = new Date()) {
      let purged = 0;
      for (const dataset of await store.listPurgeable(now)) {
        await data.dropTable(dataset.id);
        await store.deleteDataset(dataset.id);
        purged++;
      }
      return purged;
    },

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
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
      const parsed = createColumnSchema.parse(input);
      if (options.ai && parsed.formula !== undefined)
        throw validationError('An AI column has no formula', [
          { path: 'formula', message: 'not allowed on an AI column' },
        ]);
      const formula =
        parsed.formula === undefined ? null : await validateFormula(columns, parsed.formula);
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
      await insertColumn(datasetId, columns, column, async () => {
        if (formula !== null)
          await data.recomputeFormula(datasetId, columnRef(column), compileFormula(formula), {
            inputs: formulaInputs(formula),
            names: namesOf([...columns, column]),
            strict: true,
          });
        return options.ai ? { write: options.ai } : undefined;
      });
      const after = await store.listColumns(datasetId);
      publishColumns(datasetId, after);
      return presentColumn(after.find((candidate) => candidate.id === column.id)!, after);
    },

    async updateColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      changes: { name?: string; type?: ColumnType; hidden?: boolean; formula?: string },
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
      const column = columnOf(columns, columnId);
      let typeChange: Awaited<ReturnType<SheetDataStore['changeColumnType']>> | undefined;
      // Every check before any write: a formula that does not parse or bind changes nothing.
      let stored: string | undefined;
      if (changes.formula !== undefined) {
        if (column.kind !== 'formula')
          throw validationError('Only formula columns have a formula', [
            { path: 'formula', message: 'not a formula column' },
          ]);
        stored = await validateFormula(columns, changes.formula, columnId);
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
        await recompute(datasetId, after, changed);
      }
      publishColumns(datasetId, after);
      return {
        column: presentColumn(after.find((candidate) => candidate.id === columnId)!, after),
        ...(typeChange ? { conversion: typeChange } : {}),
      };
    },

    async reorderColumns(actor: Actor, projectId: string, datasetId: string, columnIds: string[]) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
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
      const after = await store.listColumns(datasetId);
      publishColumns(datasetId, after);
      return after.map((column) => presentColumn(column, after));
    },

    /**
     * Deletes a column. Refused (409) while formula columns use it; while AI columns read it,
     * refused naming them unless `force` — their prompts then need an edit (see
     * docs/ai-columns.md).
     */
    async deleteColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      options: { force?: boolean } = {},
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
      columnOf(columns, columnId);
      const dependents = columns.filter(
        (column) => column.formula && formulaInputs(column.formula).includes(columnId),
      );
      if (dependents.length > 0) {
        throw conflict(
          `Formula columns use this column: ${dependents.map((column) => column.name).join(', ')}`,
          {
            columnIds: dependents.map((column) => column.id),
          },
        );
      }
      const readersByExtension = await Promise.all(
        extensions.map((extension) => extension.readersOf(datasetId, columnId)),
      );
      const readers = readersByExtension.flat();
      if (readers.length > 0 && !options.force)
        throw conflict(
          `AI columns read this column in their prompts: ${readers.map((reader) => reader.name).join(', ')}. Delete it anyway (force) and their prompts will need an edit before they run again`,
          { columnIds: readers.map((reader) => reader.id), canForce: true },
        );
      const remove = async () => {
        await store.deleteColumn(columnId);
        await data.dropColumn(datasetId, columnId);
      };
      // Each extension with readers wraps the removal (stops its runs first, marks its cells
      // after), the first one outermost.
      const removal = extensions.reduceRight<() => Promise<void>>((inner, extension, index) => {
        const own = readersByExtension[index]!;
        if (own.length === 0) return inner;
        return () =>
          extension.removeInput(
            { projectId, datasetId, columnId, readerIds: own.map((reader) => reader.id) },
            inner,
          );
      }, remove);
      await removal();
      const after = await store.listColumns(datasetId);
      publishColumns(datasetId, after);
    },

    /**
     * Copies a column beside itself, as `<name> (copy)` (then `(copy 2)`, …) unless named: a
     * formula column with its formula, a static one with its values. An AI column (issue 6)
     * stays one: values and cell states are copied, and the extension writes its process in
     * the transaction that writes the column, so a failure leaves nothing behind.
     */
    async duplicateColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      name?: string,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
      const source = columnOf(columns, columnId);
      let copyName = name ?? `${source.name} (copy)`;
      for (
        let n = 2;
        !name && columns.some((column) => column.name.toLowerCase() === copyName.toLowerCase());
        n++
      ) {
        copyName = `${source.name} (copy ${n})`;
      }
      const copier = ownerOf(source.kind);
      if (copier) {
        const copy: ColumnRow = {
          ...source,
          id: uuidv7(),
          name: nameSchema.parse(copyName.slice(0, 200)),
          formula: null,
          position: source.position + 1,
          hidden: false,
        };
        await insertColumn(datasetId, columns, copy, async () => {
          await data.copyColumnValues(datasetId, source.id, copy.id, { states: true });
          const write = await copier.copyColumn({
            actor,
            projectId,
            datasetId,
            columns,
            sourceId: source.id,
            copyId: copy.id,
            name: copy.name,
            cells: copiedCells(datasetId, [...columns, copy]),
          });
          return write ? { write } : { kind: 'static' };
        });
        const after = await store.listColumns(datasetId);
        publishColumns(datasetId, after);
        return presentColumn(after.find((column) => column.id === copy.id)!, after);
      }
      const created = await service.addColumn(actor, projectId, datasetId, {
        name: copyName.slice(0, 200),
        type: source.type,
        position: source.position + 1,
        ...(source.formula ? { formula: displayFormula(source.formula, columns) } : {}),
      });
      if (!source.formula) await data.copyColumnValues(datasetId, source.id, created.id);
      return created;
    },

    async appendRows(
      actor: Actor,
      projectId: string,
      datasetId: string,
      rows: Record<string, CellValue>[],
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
      const writable = columns.filter((column) => column.kind === 'static');
      const known = new Set(columns.map((column) => column.id));
      for (const [index, row] of rows.entries()) {
        for (const key of Object.keys(row)) {
          if (!known.has(key))
            throw validationError(`Unknown column ${key}`, [
              { path: `rows.${index}`, message: 'unknown column' },
            ]);
        }
      }
      const rowIds = await data.appendRows(datasetId, writable.map(columnRef), rows);
      const ids = rowIds.map((id) => BigInt(id));
      await recompute(datasetId, columns, 'all', ids);
      publish(datasetId, 'rows-append', { rowIds });
      return { rowIds };
    },

    async deleteRows(actor: Actor, projectId: string, datasetId: string, rowIds: bigint[]) {
      await access.requireRole(actor, projectId, 'editor');
      await loadReady(projectId, datasetId);
      const deleted = await data.deleteRows(datasetId, rowIds);
      publish(datasetId, 'rows-delete', { rowIds: rowIds.map(String) });
      return { deleted };
    },

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
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
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
            throw conflict('The cell changed since you read it', {
              rowId: lost.rowId,
              columnId: column.id,
              current: presentCell(lost.current, column.kind),
            });
          }
          const applied = result.applied[0]!;
          const cell = presentCell({ value: applied.value, state: applied.state }, column.kind);
          publish(
            datasetId,
            'cells-update',
            { columnId: column.id, cells: [{ rowId: applied.rowId, ...cell }] },
            `cell:${applied.rowId}:${column.id}`,
          );
          if (input.value !== undefined) {
            const formulas = await recompute(datasetId, columns, new Set([column.id]), [
              input.rowId,
            ]);
            await publishCells(datasetId, formulas, [input.rowId]);
          }
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
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
      if (cells.length === 0 || cells.length > MAX_BULK_CELLS)
        throw validationError(`Send 1 to ${MAX_BULK_CELLS} cells`, [
          { path: 'cells', message: `1 to ${MAX_BULK_CELLS} cells` },
        ]);
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
      const ordered = [...groups.values()];
      const rowIds = [...new Set(cells.map((cell) => cell.rowId))].map((id) => BigInt(id));
      return changingCells(
        projectId,
        datasetId,
        columns,
        new Set(groups.keys()),
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
          const written: ({ rowId: string; columnId: string } & ReturnType<typeof presentCell>)[] =
            [];
          const conflicts: {
            index: number;
            rowId: string;
            columnId: string;
            current: ReturnType<typeof presentCell>;
          }[] = [];
          const changedRows = new Set<string>();
          const changedColumns = new Set<string>();
          for (const [position, outcome] of result.columns.entries()) {
            const { column, indexes, writes } = ordered[position]!;
            const presented = outcome.applied.map((cell) => ({
              rowId: cell.rowId,
              ...presentCell({ value: cell.value, state: cell.state }, column.kind),
            }));
            if (presented.length > 0) {
              publish(datasetId, 'cells-update', { columnId: column.id, cells: presented });
              changedColumns.add(column.id);
            }
            for (const cell of presented) {
              written.push({ columnId: column.id, ...cell });
              changedRows.add(cell.rowId);
            }
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
                current: presentCell(lost.current!, column.kind),
              });
            }
          }
          if (changedRows.size > 0) {
            const rowIds = [...changedRows].map((id) => BigInt(id));
            const formulas = await recompute(datasetId, columns, changedColumns, rowIds);
            await publishCells(datasetId, formulas, rowIds);
          }
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
      await access.requireRole(actor, projectId, 'editor');
      const { columns } = await loadReady(projectId, datasetId);
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

    /**
     * Cells of the listed rows and columns, presented (rows that no longer exist are left out).
     * For the AI column engine (issue 6), which reads a row's inputs by id.
     */
    async readCells(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnIds: readonly string[],
      rowIds: readonly bigint[],
    ) {
      await access.requireRole(actor, projectId, 'viewer');
      const { columns } = await loadReady(projectId, datasetId);
      const selected = columnIds.map((id) => columnOf(columns, id));
      const cells = await data.readCells(datasetId, selected.map(columnRef), rowIds);
      const rows = new Map<string, Record<string, ReturnType<typeof presentCell>>>();
      for (const [rowId, row] of cells) {
        const presented: Record<string, ReturnType<typeof presentCell>> = {};
        for (const column of selected)
          presented[column.id] = presentCell(row[column.id]!, column.kind);
        rows.set(rowId, presented);
      }
      return rows;
    },

    async readWindow(
      actor: Actor,
      projectId: string,
      datasetId: string,
      query: Partial<WindowQuery>,
    ) {
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
        rows: window.rows.map((row) => presentRow(row, kinds)),
        lastEventId: await events.lastId(datasetStream(datasetId)),
      };
    },

    async runSql(actor: Actor, projectId: string, datasetId: string, sql: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const { columns } = await loadReady(projectId, datasetId);
      return runReadOnlySql(duckdb, {
        datasetId,
        columns: columns.map((column) => ({ id: column.id, name: column.name, type: column.type })),
        sql,
        timeoutMs: settings.sqlTimeoutMs,
        maxRows: settings.sqlMaxRows,
      });
    },

    /** Plugs in a module whose columns read other columns (AI columns); several may be. */
    extend(next: SheetExtension): void {
      if (extensions.includes(next)) throw new Error('sheet extension plugged in twice');
      extensions.push(next);
    },

    /** For routes and jobs that need the raw rows (export, import): checked like any read. */
    async requireDataset(
      actor: Actor,
      projectId: string,
      datasetId: string,
      role: 'viewer' | 'editor' = 'viewer',
    ): Promise<{ dataset: DatasetRow; columns: readonly ColumnRow[] }> {
      await access.requireRole(actor, projectId, role);
      return loadReady(projectId, datasetId);
    },
  };
  return service;
}

export type SheetService = ReturnType<typeof createSheetService>;
