import { type Kysely, type Selectable, sql } from 'kysely';
import type { DatasetViewTable, DB } from '../../migrations/db-schema.ts';
import { isUniqueViolation } from '../../platform/db/db-errors.ts';
import { selectMatching } from '../../platform/db/store-helpers.ts';

export type ViewRow = Selectable<DatasetViewTable>;

/** Saved views in the metadata database: rows in, rows out; access checks live in the service. */
export function createViewStore(db: Kysely<DB>) {
  return {
    list: (datasetId: string) =>
      selectMatching(db, 'dataset_view', { dataset_id: datasetId }).orderBy('name').execute(),

    find: (datasetId: string, viewId: string) =>
      selectMatching(db, 'dataset_view', { dataset_id: datasetId, id: viewId }).executeTakeFirst(),

    /** Undefined when the dataset already has a view of that name. */
    async insert(row: {
      id: string;
      dataset_id: string;
      name: string;
      definition: unknown;
      created_by: string | null;
    }) {
      try {
        return await db
          .insertInto('dataset_view')
          .values({ ...row, definition: JSON.stringify(row.definition) })
          .returningAll()
          .executeTakeFirstOrThrow();
      } catch (error) {
        if (isUniqueViolation(error, 'dataset_view_name_unique')) return undefined;
        throw error;
      }
    },

    /**
     * Compare-and-set on `version`: 'stale' when another write came first, 'duplicate' when the
     * new name is taken, undefined when the view is gone.
     */
    async update(
      datasetId: string,
      viewId: string,
      expectedVersion: number,
      changes: { name?: string; definition?: unknown },
    ): Promise<ViewRow | 'stale' | 'duplicate' | undefined> {
      try {
        const row = await db
          .updateTable('dataset_view')
          .set((eb) => ({
            ...(changes.name === undefined ? {} : { name: changes.name }),
            ...(changes.definition === undefined
              ? {}
              : { definition: JSON.stringify(changes.definition) }),
            version: eb('version', '+', 1),
            updated_at: sql`now()`,
          }))
          .where('dataset_id', '=', datasetId)
          .where('id', '=', viewId)
          .where('version', '=', expectedVersion)
          .returningAll()
          .executeTakeFirst();
        if (row) return row;
      } catch (error) {
        if (isUniqueViolation(error, 'dataset_view_name_unique')) return 'duplicate';
        throw error;
      }
      const current = await this.find(datasetId, viewId);
      return current ? 'stale' : undefined;
    },

    /** Whether the view was there to delete. */
    delete: (datasetId: string, viewId: string) =>
      db
        .deleteFrom('dataset_view')
        .where('dataset_id', '=', datasetId)
        .where('id', '=', viewId)
        .executeTakeFirst()
        .then((result) => result.numDeletedRows > 0n),
  };
}
export type ViewStore = ReturnType<typeof createViewStore>;
