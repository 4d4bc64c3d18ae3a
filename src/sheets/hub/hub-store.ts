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
        /** Counts an attempt and starts its heartbeat. */
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
          ...(attempt ? { attempts: sql`attempts + 1`, heartbeat_at: sql`now()` } : {}),
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

    /** The running publish's server is alive: renews its heartbeat (false once it is not running). */
    beat: (id: string) =>
      db
        .updateTable('hub_publish')
        .set({ heartbeat_at: sql`now()` })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .executeTakeFirst()
        .then((result) => Number(result.numUpdatedRows) > 0),

    /**
     * Fails the running publishes (of one project, or all) whose heartbeat is older than
     * `staleSeconds`, by the database's clock: their server stopped. Returns how many.
     */
    failStale: (error: string, staleSeconds: number, projectId?: string) => {
      let query = db
        .updateTable('hub_publish')
        .set({ status: 'failed', error, updated_at: sql`now()`, finished_at: sql`now()` })
        .where('status', '=', 'running')
        .where(
          sql<boolean>`coalesce(heartbeat_at, updated_at) < now() - make_interval(secs => ${staleSeconds})`,
        );
      if (projectId) query = query.where('project_id', '=', projectId);
      return query.executeTakeFirst().then((result) => Number(result.numUpdatedRows));
    },

    /** Publishes by id (those that exist), with their status and when they finished. */
    statusOf: (ids: readonly string[]) =>
      ids.length === 0
        ? Promise.resolve([])
        : db
            .selectFrom('hub_publish')
            .select(['id', 'status', 'finished_at'])
            .where('id', 'in', ids)
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
