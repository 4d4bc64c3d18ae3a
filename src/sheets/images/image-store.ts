import type { Kysely } from 'kysely';
import type { DB } from '../../migrations/db-schema.ts';

/** The images each project holds (metadata; the bytes are in the blob store): rows in, rows out. */
export function createImageStore(db: Kysely<DB>) {
  return {
    /** Records that the project holds these images (again is a no-op). */
    link: async (
      projectId: string,
      images: { sha256: string; mediaType: string; bytes: number; width: number; height: number }[],
    ) => {
      if (images.length === 0) return;
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
        .onConflict((conflict) => conflict.columns(['project_id', 'sha256']).doNothing())
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

    find: (projectId: string, sha256: string) =>
      db
        .selectFrom('image_blob')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('sha256', '=', sha256)
        .executeTakeFirst(),
  };
}
export type ImageStore = ReturnType<typeof createImageStore>;
