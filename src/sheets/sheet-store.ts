import type { Insertable, Selectable, Updateable } from 'kysely';
import { type Kysely, sql, type Transaction } from 'kysely';
import type {
  DatasetColumnTable,
  DatasetImportTable,
  DatasetTable,
  DB,
} from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';

export type DatasetRow = Selectable<DatasetTable>;
export type ColumnRow = Selectable<DatasetColumnTable>;
export type ImportRow = Selectable<DatasetImportTable>;

/** How long a cached dataset with its columns may be served without a write through this store. */
const METADATA_TTL_MS = 30_000;

/**
 * Sheets metadata in PostgreSQL: rows in, rows out. Access checks live in the service.
 *
 * A live dataset with its columns is cached for the hot read paths (every grid window needs
 * both). Every metadata write goes through this store, and each one — and each transaction
 * when it ends — drops the whole cache and bumps a generation, so a read that raced a write
 * never stores what it read.
 */
export function createSheetStore(db: Kysely<DB>) {
  let generation = 0;
  const metadata = new Map<
    string,
    { dataset: DatasetRow; columns: readonly ColumnRow[]; until: number }
  >();
  const changed = <T>(result: T): T => {
    generation++;
    metadata.clear();
    return result;
  };

  const findDataset = (
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
  };
  const listColumns = (datasetId: string, executor: Executor = db) =>
    executor
      .selectFrom('dataset_column')
      .selectAll()
      .where('dataset_id', '=', datasetId)
      .orderBy('position')
      .orderBy('id')
      .execute();

  return {
    db,
    transaction: <T>(work: (trx: Transaction<DB>) => Promise<T>) =>
      db
        .transaction()
        .execute(work)
        .finally(() => changed(undefined)),

    /**
     * A live dataset of the project with its columns (cached; callers must not mutate them),
     * or undefined.
     */
    findDatasetWithColumns: async (
      projectId: string,
      datasetId: string,
    ): Promise<{ dataset: DatasetRow; columns: readonly ColumnRow[] } | undefined> => {
      const key = `${projectId}/${datasetId}`;
      const cached = metadata.get(key);
      if (cached && cached.until > Date.now()) return cached;
      const seen = generation;
      const dataset = await findDataset(projectId, datasetId);
      if (!dataset) return undefined;
      const columns = await listColumns(datasetId);
      // Frozen: a caller that tried to change a shared row would fail loudly.
      Object.freeze(dataset);
      for (const column of columns) Object.freeze(column);
      Object.freeze(columns);
      if (generation === seen) {
        if (metadata.size >= 1_000) metadata.clear();
        metadata.set(key, { dataset, columns, until: Date.now() + METADATA_TTL_MS });
      }
      return { dataset, columns };
    },

    insertDataset: (row: Insertable<DatasetTable>, executor: Executor = db) =>
      executor
        .insertInto('dataset')
        .values(row)
        .returningAll()
        .executeTakeFirstOrThrow()
        .then(changed),

    /** A live (not deleted) dataset of the project, or undefined. */
    findDataset,

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
        .executeTakeFirst()
        .then(changed),

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
      db.deleteFrom('dataset').where('id', '=', datasetId).execute().then(changed),

    listColumns,

    insertColumns: (rows: Insertable<DatasetColumnTable>[], executor: Executor = db) =>
      rows.length === 0
        ? Promise.resolve([] as ColumnRow[])
        : executor.insertInto('dataset_column').values(rows).returningAll().execute().then(changed),

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
        .executeTakeFirst()
        .then(changed),

    deleteColumn: (columnId: string, executor: Executor = db) =>
      executor.deleteFrom('dataset_column').where('id', '=', columnId).execute().then(changed),

    insertImport: (row: Insertable<DatasetImportTable>) =>
      db.insertInto('dataset_import').values(row).returningAll().executeTakeFirstOrThrow(),

    findImport: (importId: string) =>
      db.selectFrom('dataset_import').selectAll().where('id', '=', importId).executeTakeFirst(),

    /** A running import's heartbeat; answers whether someone asked to cancel it. */
    beatImport: (importId: string) =>
      db
        .updateTable('dataset_import')
        .set({ heartbeat_at: sql`now()` })
        .where('id', '=', importId)
        .where('status', '=', 'running')
        .returning('cancel_requested')
        .executeTakeFirst(),

    /**
     * Marks failed, in one statement, the running imports whose heartbeat (or start) is older
     * than `staleSeconds`: their server stopped. Two recoverers never claim the same import.
     */
    claimStalledImports: (staleSeconds: number, error: unknown) =>
      db
        .updateTable('dataset_import')
        .set({ status: 'failed', finished_at: sql`now()`, error: JSON.stringify(error) })
        .where('status', '=', 'running')
        .where(
          sql<boolean>`coalesce(heartbeat_at, started_at, created_at) < now() - make_interval(secs => ${staleSeconds})`,
        )
        .returningAll()
        .execute(),

    /** Uploads never started and created before `cutoff`: cancelled, with `error`. */
    claimExpiredUploads: (cutoff: Date, error: unknown) =>
      db
        .updateTable('dataset_import')
        .set({ status: 'cancelled', finished_at: sql`now()`, error: JSON.stringify(error) })
        .where('status', '=', 'uploaded')
        .where('source', '=', 'upload')
        .where(sql<boolean>`created_at < ${cutoff.toISOString()}::timestamptz`)
        .returningAll()
        .execute(),

    /** The upload files imports still need (not yet finished). */
    pendingImportFiles: async () =>
      (
        await db
          .selectFrom('dataset_import')
          .select('file_path')
          .where('status', 'in', ['uploaded', 'queued', 'running'])
          .where('file_path', 'is not', null)
          .execute()
      ).map((row) => row.file_path!),

    updateImport: (
      importId: string,
      changes: Updateable<DatasetImportTable>,
      trx?: Transaction<DB>,
    ) =>
      (trx ?? db)
        .updateTable('dataset_import')
        .set(changes)
        .where('id', '=', importId)
        .returningAll()
        .executeTakeFirst(),
  };
}

export type SheetStore = ReturnType<typeof createSheetStore>;

/** PostgreSQL unique violation (a duplicate column name). */
/** Kept for the generation service's imports; the one definition is in platform/db. */
export { isUniqueViolation } from '../platform/db/db-errors.ts';
