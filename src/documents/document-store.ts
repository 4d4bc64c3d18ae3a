import { type Kysely, type Selectable, sql } from 'kysely';
import type { DB, DocumentTable } from '../migrations/db-schema.ts';
import { selectMatching } from '../platform/db/store-helpers.ts';

export type DocumentRow = Selectable<DocumentTable>;

/** Documents metadata: rows in, rows out. Access checks live in the service. */
export function createDocumentStore(db: Kysely<DB>) {
  /** A collection's documents in its order (oldest first, then by id). */
  const inCollection = (projectId: string, datasetId: string) =>
    db
      .selectFrom('document')
      .where('project_id', '=', projectId)
      .where('dataset_id', '=', datasetId)
      .orderBy('created_at')
      .orderBy('id');
  return {
    transaction: <T>(work: (trx: Kysely<DB>) => Promise<T>) =>
      db.transaction().execute((trx) => work(trx)),

    knownHashes: async (datasetId: string, hashes: string[]) =>
      hashes.length === 0
        ? []
        : db
            .selectFrom('document')
            .select(['id', 'sha256', 'name'])
            .where('dataset_id', '=', datasetId)
            .where('sha256', 'in', hashes)
            .execute(),

    insert: (
      rows: {
        id: string;
        project_id: string;
        dataset_id: string;
        name: string;
        kind: string | null;
        media_type: string;
        size: number;
        sha256: string;
        message: string | null;
        created_by: string | null;
      }[],
      executor: Kysely<DB> = db,
    ) => executor.insertInto('document').values(rows).returningAll().execute(),

    /** The project's documents collections (live datasets with documents), by name. */
    collections: (projectId: string) =>
      db
        .selectFrom('document')
        .innerJoin('dataset', 'dataset.id', 'document.dataset_id')
        .select((eb) => [
          'dataset.id as id',
          'dataset.name as name',
          eb.fn.countAll<string>().as('documents'),
        ])
        .where('document.project_id', '=', projectId)
        .where('dataset.deleted_at', 'is', null)
        .groupBy(['dataset.id', 'dataset.name'])
        .orderBy('dataset.name')
        .execute(),

    list: (projectId: string, datasetId: string) =>
      inCollection(projectId, datasetId).selectAll().execute(),

    /** What work over every document of a collection needs of each, in `list`'s order. */
    entries: (projectId: string, datasetId: string) =>
      inCollection(projectId, datasetId).select(['id', 'name', 'status', 'row_id']).execute(),

    find: (projectId: string, documentId: string) =>
      selectMatching(db, 'document', { project_id: projectId, id: documentId }).executeTakeFirst(),

    /** The listed documents of the project (ids that are not there are left out). */
    findMany: async (projectId: string, documentIds: readonly string[]) =>
      documentIds.length === 0
        ? []
        : db
            .selectFrom('document')
            .selectAll()
            .where('project_id', '=', projectId)
            .where('id', 'in', [...documentIds])
            .execute(),

    /** Takes the oldest queued document of a collection (another worker skips it). */
    claimNext: async (datasetId: string) => {
      const result = await sql<DocumentRow>`
        update document set status = 'extracting', updated_at = now()
        where id = (
          select id from document where dataset_id = ${datasetId} and status = 'queued'
          order by created_at, id limit 1 for update skip locked)
        returning *`.execute(db);
      return result.rows[0];
    },

    finish: (
      documentId: string,
      changes: {
        status: string;
        message: string | null;
        pages: number | null;
        row_id: string | null;
      },
    ) =>
      db
        .updateTable('document')
        .set({ ...changes, updated_at: sql`now()` })
        .where('id', '=', documentId)
        .execute(),

    /** Removes a document's record (its row in the collection is removed by the service). */
    remove: (documentId: string, executor: Kysely<DB> = db) =>
      executor.deleteFrom('document').where('id', '=', documentId).execute(),

    /** How many documents (any project) keep this content: the blob goes with the last one. */
    countByHash: async (sha256: string) =>
      Number(
        (
          await db
            .selectFrom('document')
            .select((eb) => eb.fn.countAll<string>().as('count'))
            .where('sha256', '=', sha256)
            .executeTakeFirstOrThrow()
        ).count,
      ),

    /** Says the document is still being extracted (recovery leaves it alone). */
    heartbeat: (documentId: string) =>
      db
        .updateTable('document')
        .set({ updated_at: sql`now()` })
        .where('id', '=', documentId)
        .where('status', '=', 'extracting')
        .execute(),

    /**
     * Documents a stopped server was extracting go back to the queue: every one, or (with
     * `stalledSeconds`) those whose extraction sent no heartbeat for that long — another live
     * server may be extracting the rest.
     */
    requeueInterrupted: async (stalledSeconds?: number) => {
      let query = db
        .updateTable('document')
        .set({ status: 'queued', updated_at: sql`now()` })
        .where('status', '=', 'extracting');
      if (stalledSeconds !== undefined)
        query = query.where(
          sql<boolean>`updated_at < now() - make_interval(secs => ${stalledSeconds})`,
        );
      const result = await query.returning(['dataset_id']).execute();
      return [...new Set(result.map((row) => row.dataset_id))];
    },

    collectionsWithQueued: async () =>
      (
        await db
          .selectFrom('document')
          .select('dataset_id')
          .distinct()
          .where('status', '=', 'queued')
          .execute()
      ).map((row) => row.dataset_id),
  };
}
export type DocumentStore = ReturnType<typeof createDocumentStore>;
