import type { Kysely } from 'kysely';
import type { DB } from '../../migrations/db-schema.ts';

/** A staleness check recorded before its cell write committed (migration 0621). */
export interface PendingStaleness {
  id: string;
  projectId: string;
  datasetId: string;
  columnIds: string[];
  rowIds: string[];
}

/** Queries of `staleness_pending`: rows in, rows out. */
export function createStalenessStore(db: Kysely<DB>) {
  return {
    async insert(pending: PendingStaleness): Promise<void> {
      await db
        .insertInto('staleness_pending')
        .values({
          id: pending.id,
          project_id: pending.projectId,
          dataset_id: pending.datasetId,
          column_ids: JSON.stringify(pending.columnIds),
          row_ids: JSON.stringify(pending.rowIds),
        })
        .execute();
    },

    /** Every check not done yet, oldest first (the next start finishes them). */
    async list(): Promise<PendingStaleness[]> {
      const rows = await db
        .selectFrom('staleness_pending')
        .selectAll()
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map((row) => ({
        id: row.id,
        projectId: row.project_id,
        datasetId: row.dataset_id,
        columnIds: row.column_ids,
        rowIds: row.row_ids,
      }));
    },

    async delete(ids: readonly string[]): Promise<void> {
      if (ids.length === 0) return;
      await db
        .deleteFrom('staleness_pending')
        .where('id', 'in', [...ids])
        .execute();
    },
  };
}

export type StalenessStore = ReturnType<typeof createStalenessStore>;
