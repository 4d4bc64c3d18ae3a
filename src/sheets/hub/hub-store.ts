import { type Kysely, type Selectable, sql } from 'kysely';
import type { DB, HubPublishTable } from '../../migrations/db-schema.ts';

export type PublishRow = Selectable<HubPublishTable>;

/** Hub tokens (sealed) and publishes: rows in, rows out. */
export function createHubStore(db: Kysely<DB>) {
  return {
    findToken: (projectId: string) =>
      db
        .selectFrom('hub_token')
        .select('token')
        .where('project_id', '=', projectId)
        .executeTakeFirst()
        .then((row) => row?.token),

    saveToken: (
      executor: Kysely<DB>,
      row: { project_id: string; token: string; updated_by: string | null },
    ) =>
      executor
        .insertInto('hub_token')
        .values(row)
        .onConflict((conflict) =>
          conflict.column('project_id').doUpdateSet({
            token: row.token,
            updated_by: row.updated_by,
            updated_at: sql`now()`,
          }),
        )
        .execute(),

    deleteToken: (executor: Kysely<DB>, projectId: string) =>
      executor
        .deleteFrom('hub_token')
        .where('project_id', '=', projectId)
        .executeTakeFirst()
        .then((result) => Number(result.numDeletedRows) > 0),

    insertPublish: (
      executor: Kysely<DB>,
      row: Pick<
        PublishRow,
        'id' | 'project_id' | 'dataset_id' | 'repo_id' | 'private' | 'status' | 'created_by'
      >,
    ) => executor.insertInto('hub_publish').values(row).returningAll().executeTakeFirstOrThrow(),

    findPublish: (id: string) =>
      db.selectFrom('hub_publish').selectAll().where('id', '=', id).executeTakeFirst(),

    listPublishes: (projectId: string, datasetId: string | undefined, limit: number) => {
      let query = db
        .selectFrom('hub_publish')
        .selectAll()
        .where('project_id', '=', projectId)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit);
      if (datasetId) query = query.where('dataset_id', '=', datasetId);
      return query.execute();
    },

    /** Moves a publish from one status to the next; undefined when it was not in `from`. */
    transition: (
      id: string,
      from: PublishRow['status'],
      changes: Partial<Pick<PublishRow, 'status' | 'error' | 'commit_oid' | 'commit_url'>> & {
        finished?: boolean;
        attempt?: boolean;
      },
      executor: Kysely<DB> = db,
    ) => {
      const { finished, attempt, ...values } = changes;
      return executor
        .updateTable('hub_publish')
        .set({
          ...values,
          updated_at: sql`now()`,
          ...(finished === undefined ? {} : { finished_at: finished ? sql`now()` : null }),
          ...(attempt ? { attempts: sql`attempts + 1` } : {}),
        })
        .where('id', '=', id)
        .where('status', '=', from)
        .returningAll()
        .executeTakeFirst();
    },

    /** Adds what one attempt sent to the Hub and what it found there already. */
    countFiles: (id: string, uploaded: number, skipped: number) =>
      db
        .updateTable('hub_publish')
        .set({
          files_uploaded: sql`files_uploaded + ${uploaded}`,
          files_skipped: sql`files_skipped + ${skipped}`,
          updated_at: sql`now()`,
        })
        .where('id', '=', id)
        .execute(),

    /** Publishes a stopped server left running (embedded: this process owned them). */
    failRunning: (error: string) =>
      db
        .updateTable('hub_publish')
        .set({ status: 'failed', error, updated_at: sql`now()`, finished_at: sql`now()` })
        .where('status', '=', 'running')
        .execute()
        .then((rows) => rows.reduce((sum, row) => sum + Number(row.numUpdatedRows), 0)),
  };
}

export type HubStore = ReturnType<typeof createHubStore>;
