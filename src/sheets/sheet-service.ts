import type { Transaction } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { DB } from '../migrations/db-schema.ts';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import type { EventBus } from '../platform/events.ts';
import { createCellCommits } from './sheet-cell-commit.ts';
import { createCellUseCases } from './sheet-cell-service.ts';
import { createColumnDeleteUseCase } from './sheet-column-delete-service.ts';
import { createColumnDuplicateUseCase } from './sheet-column-duplicate-service.ts';
import { createColumnUseCases } from './sheet-column-service.ts';
import type {
  CellWrite,
  CompareAndSetResult,
  RowRead,
  SheetDataStore,
} from './sheet-data-store.ts';
import { createDatasetUseCases } from './sheet-dataset-service.ts';
import { createFormulaUpdates } from './sheet-formula-updates.ts';
import { createRowUseCases } from './sheet-row-service.ts';
import { createSheetContext } from './sheet-service-context.ts';
import { createSqlUseCases } from './sheet-sql-service.ts';
import type { ColumnRow, DatasetRow, SheetStore } from './sheet-store.ts';
import { createWindowUseCases } from './sheet-window-service.ts';

/**
 * The sheets service, one file per use-case group: datasets (sheet-dataset-service.ts),
 * columns (sheet-column-service.ts, sheet-column-delete-service.ts,
 * sheet-column-duplicate-service.ts), rows (sheet-row-service.ts), cells
 * (sheet-cell-service.ts, with the one commit path in sheet-cell-commit.ts), paged reads
 * (sheet-window-service.ts) and read-only SQL (sheet-sql-service.ts), composed over one
 * context (sheet-service-context.ts), plus the extension seam below. Each use case checks
 * access on its first line and returns domain records; routes present them.
 */

export { datasetStream } from './sheet-service-context.ts';

export interface SheetServiceDeps {
  store: SheetStore;
  data: SheetDataStore;
  access: ProjectAccess;
  events: EventBus;
  duckdb: DuckDb;
  settings: { retentionDays: number; sqlTimeoutMs: number; sqlMaxRows: number };
}

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

/**
 * A feature that uses datasets by id (workflows) and must not lose one silently: an unforced
 * delete of a dataset it names answers 409 listing the users; a forced one goes ahead and the
 * guard records it (its audit entry).
 */
export interface DatasetDeleteGuard {
  usersOf(
    projectId: string,
    datasetId: string,
  ): Promise<{ kind: string; id: string; name: string }[]>;
  forced(
    actor: Actor,
    projectId: string,
    datasetId: string,
    users: { kind: string; id: string; name: string }[],
  ): Promise<void>;
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

/** Sheets use cases: an access check on the first line of each, then stores, then events. */
export function createSheetService(deps: SheetServiceDeps) {
  const context = createSheetContext(deps);
  const formulas = createFormulaUpdates(context);
  const commits = createCellCommits(context, formulas);
  const columns = createColumnUseCases(context, formulas);
  return {
    ...createDatasetUseCases(context),
    ...columns,
    ...createColumnDeleteUseCase(context),
    ...createColumnDuplicateUseCase(context, columns),
    ...createRowUseCases(context, formulas),
    ...createCellUseCases(context, commits),
    ...createWindowUseCases(context),
    ...createSqlUseCases(context),

    /** Plugs in a module whose columns read other columns (AI columns); several may be. */
    extend(next: SheetExtension): void {
      if (context.extensions.includes(next)) throw new Error('sheet extension plugged in twice');
      context.extensions.push(next);
    },

    /** Plugs in a feature asked before any dataset is deleted (workflows). */
    guardDatasetDelete(guard: DatasetDeleteGuard): void {
      context.deleteGuards.push(guard);
    },

    /** For routes and jobs that need the raw rows (export, import): checked like any read. */
    async requireDataset(
      actor: Actor,
      projectId: string,
      datasetId: string,
      role: 'viewer' | 'editor' = 'viewer',
    ): Promise<{ dataset: DatasetRow; columns: readonly ColumnRow[] }> {
      await deps.access.requireRole(actor, projectId, role);
      return context.loadReady(projectId, datasetId);
    },
  };
}

export type SheetService = ReturnType<typeof createSheetService>;
