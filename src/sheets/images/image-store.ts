import { type Kysely, sql } from 'kysely';
import type { DB } from '../../migrations/db-schema.ts';
import { PREPARED } from '../../platform/db/pglite-driver.ts';
import { selectMatching } from '../../platform/db/store-helpers.ts';

/** The images each project holds (metadata; the bytes are in the blob store): rows in, rows out. */
export function createImageStore(db: Kysely<DB>) {
  return {
    /** Records that the project holds these images (again renews the link: the blob sweep). */
    link: async (
      projectId: string,
      images: { sha256: string; mediaType: string; bytes: number; width: number; height: number }[],
    ) => {
      if (images.length === 0) return;
      const [one] = images;
      if (images.length === 1 && one) {
        // One image at a time is how uploads and imports store them: planned once (PGlite).
        await sql`${PREPARED}insert into image_blob
            (project_id, sha256, media_type, bytes, width, height)
          values (${projectId}, ${one.sha256}, ${one.mediaType}, ${one.bytes}, ${one.width}, ${one.height})
          on conflict (project_id, sha256) do update set last_linked_at = now()`.execute(db);
        return;
      }
      await db
        .insertInto('image_blob')
        .values(
          images.map((image) => ({
            project_id: projectId,
            sha256: image.sha256,
            media_type: image.mediaType,
            bytes: image.bytes,
            width: image.width,
            height: image.height,
          })),
        )
        .onConflict((conflict) =>
          conflict.columns(['project_id', 'sha256']).doUpdateSet({ last_linked_at: sql`now()` }),
        )
        .execute();
    },

    /** Which of these hashes the project holds. */
    heldAmong: async (projectId: string, hashes: readonly string[]) => {
      if (hashes.length === 0) return [];
      const rows = await db
        .selectFrom('image_blob')
        .select('sha256')
        .where('project_id', '=', projectId)
        .where('sha256', 'in', [...hashes])
        .execute();
      return rows.map((row) => row.sha256);
    },

    /** Projects with links stored before `cutoff` (candidates for the blob sweep). */
    projectsWithLinksBefore: async (cutoff: Date) =>
      (
        await db
          .selectFrom('image_blob')
          .select('project_id')
          .distinct()
          .where('last_linked_at', '<', cutoff)
          .execute()
      ).map((row) => row.project_id),

    /** A project's links stored before `cutoff`. */
    linksBefore: async (projectId: string, cutoff: Date) =>
      (
        await db
          .selectFrom('image_blob')
          .select('sha256')
          .where('project_id', '=', projectId)
          .where('last_linked_at', '<', cutoff)
          .execute()
      ).map((row) => row.sha256),

    /** Drops links, unless renewed since `cutoff` (a store racing the sweep wins). */
    unlink: async (projectId: string, hashes: readonly string[], cutoff: Date) => {
      if (hashes.length === 0) return 0;
      const result = await db
        .deleteFrom('image_blob')
        .where('project_id', '=', projectId)
        .where('sha256', 'in', [...hashes])
        .where('last_linked_at', '<', cutoff)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Which of these hashes any project holds. */
    heldByAny: async (hashes: readonly string[]) => {
      if (hashes.length === 0) return new Set<string>();
      const rows = await db
        .selectFrom('image_blob')
        .select('sha256')
        .distinct()
        .where('sha256', 'in', [...hashes])
        .execute();
      return new Set(rows.map((row) => row.sha256));
    },

    /** A project's image columns, deleted datasets included (restorable until purged). */
    imageColumns: (projectId: string) =>
      db
        .selectFrom('dataset_column')
        .innerJoin('dataset', 'dataset.id', 'dataset_column.dataset_id')
        .select(['dataset.id as datasetId', 'dataset_column.id as columnId'])
        .where('dataset.project_id', '=', projectId)
        .where('dataset_column.type', '=', 'image')
        .execute(),

    /** The project's rows among these hashes (one query for a batch of cells). */
    findMany: async (projectId: string, hashes: readonly string[]) =>
      hashes.length === 0
        ? []
        : db
            .selectFrom('image_blob')
            .selectAll()
            .where('project_id', '=', projectId)
            .where('sha256', 'in', [...new Set(hashes)])
            .execute(),

    find: (projectId: string, sha256: string) =>
      selectMatching(db, 'image_blob', { project_id: projectId, sha256 }).executeTakeFirst(),
  };
}
export type ImageStore = ReturnType<typeof createImageStore>;
