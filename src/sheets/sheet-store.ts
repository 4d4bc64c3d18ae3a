import type { Insertable, Selectable, Updateable } from 'kysely';
import { type Kysely, sql, type Transaction } from 'kysely';
import type {
  DatasetColumnTable,
  DatasetImportTable,
  DatasetTable,
  DB,
} from '../migrations/db-schema.ts';

export type DatasetRow = Selectable<DatasetTable>;
export type ColumnRow = Selectable<DatasetColumnTable>;
export type ImportRow = Selectable<DatasetImportTable>;
type Executor = Kysely<DB> | Transaction<DB>;

/** Sheets metadata in PostgreSQL: rows in, rows out. Access checks live in the service. */
export function createSheetStore(db: Kysely<DB>) {
  return {
    db,
    transaction: <T>(work: (trx: Transaction<DB>) => Promise<T>) => db.transaction().execute(work),

    insertDataset: (row: Insertable<DatasetTable>, executor: Executor = db) =>
      executor.insertInto('dataset').values(row).returningAll().executeTakeFirstOrThrow(),

    /** A live (not deleted) dataset of the project, or undefined. */
    findDataset: (
      projectId: string,
      datasetId: string,
      options: { includeDeleted?: boolean } = {},
    ) => {
      let query = db
        .selectFrom('dataset')
        .selectAll()
        .where('id', '=', datasetId)
        .where('project_id', '=', projectId);
      if (!options.includeDeleted) query = query.where('deleted_at', 'is', null);
      return query.executeTakeFirst();
    },

    findDatasetById: (datasetId: string) =>
      db.selectFrom('dataset').selectAll().where('id', '=', datasetId).executeTakeFirst(),

    listDatasets: (projectId: string, options: { deleted?: boolean } = {}) =>
      db
        .selectFrom('dataset')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('deleted_at', options.deleted ? 'is not' : 'is', null)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(1_000)
        .execute(),

    updateDataset: (
      datasetId: string,
      changes: Updateable<DatasetTable>,
      executor: Executor = db,
    ) =>
      executor
        .updateTable('dataset')
        .set({ ...changes, updated_at: sql`now()` })
        .where('id', '=', datasetId)
        .returningAll()
        .executeTakeFirst(),

    /** Deleted datasets whose restore window has passed. */
    listPurgeable: (now: Date, limit = 100) =>
      db
        .selectFrom('dataset')
        .select(['id', 'project_id'])
        .where('deleted_at', 'is not', null)
        .where('purge_after', '<=', now)
        .limit(limit)
        .execute(),

    deleteDataset: (datasetId: string) =>
      db.deleteFrom('dataset').where('id', '=', datasetId).execute(),

    listColumns: (datasetId: string, executor: Executor = db) =>
      executor
        .selectFrom('dataset_column')
        .selectAll()
        .where('dataset_id', '=', datasetId)
        .orderBy('position')
        .orderBy('id')
        .execute(),

    insertColumns: (rows: Insertable<DatasetColumnTable>[], executor: Executor = db) =>
      rows.length === 0
        ? Promise.resolve([] as ColumnRow[])
        : executor.insertInto('dataset_column').values(rows).returningAll().execute(),

    updateColumn: (
      columnId: string,
      changes: Updateable<DatasetColumnTable>,
      executor: Executor = db,
    ) =>
      executor
        .updateTable('dataset_column')
        .set({ ...changes, updated_at: sql`now()` })
        .where('id', '=', columnId)
        .returningAll()
        .executeTakeFirst(),

    deleteColumn: (columnId: string, executor: Executor = db) =>
      executor.deleteFrom('dataset_column').where('id', '=', columnId).execute(),

    insertImport: (row: Insertable<DatasetImportTable>) =>
      db.insertInto('dataset_import').values(row).returningAll().executeTakeFirstOrThrow(),

    findImport: (importId: string) =>
      db.selectFrom('dataset_import').selectAll().where('id', '=', importId).executeTakeFirst(),

    updateImport: (importId: string, changes: Updateable<DatasetImportTable>) =>
      db
        .updateTable('dataset_import')
        .set(changes)
        .where('id', '=', importId)
        .returningAll()
        .executeTakeFirst(),
  };
}

export type SheetStore = ReturnType<typeof createSheetStore>;

/** PostgreSQL unique violation (a duplicate column name). */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === '23505';
}
