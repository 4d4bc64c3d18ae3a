import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Actor } from '../../access/actor.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import { AppError, notFound, validationError } from '../../platform/app-error.ts';
import type { SheetService } from '../sheet-service.ts';
import type { ImageBlobStore } from './image-blob-store.ts';
import { createRowSpool, receiveImageParts } from './image-import.ts';
import { type ImageLimits, makeThumbnail, pngRendition, probeImage } from './image-probe.ts';
import type { ImageReference } from './image-reference.ts';
import type { ImageStore } from './image-store.ts';

/** A file as it arrived: its bytes (at most the image byte limit) and the name it came with. */
export interface IncomingImage {
  name: string;
  bytes: Buffer;
}

export type StoredImage =
  | { ok: true; reference: ImageReference }
  | { ok: false; name: string; reason: string; tooLarge: boolean };

/** An image as a model is sent it. */
export interface ModelImage {
  bytes: Buffer;
  mediaType: string;
}

/** Media types models take as they are; others (SVG) are sent as their PNG rendering. */
const MODEL_MEDIA_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** Thumbnail files read at once while a batch is answered. */
const THUMBNAIL_READS_AT_ONCE = 16;

/** Rows appended per write while an import runs. */
const IMPORT_BATCH_ROWS = 200;

/** A file name as data: the last path segment, control characters dropped, at most 255. */
export function imageFileName(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: dropping control characters is the point
  const base = (name.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
  return (base.trim() || 'image').slice(0, 255);
}

/**
 * Image values (docs/images.md): checks and stores images once per content, links them to the
 * project that may read them, writes references into cells, and serves originals and
 * thumbnails to members of that project only. A hash the project does not hold is 404, the
 * same answer as a project the actor cannot see.
 */
export function createImageService(deps: {
  store: ImageStore;
  blobs: ImageBlobStore;
  access: ProjectAccess;
  sheets: Pick<SheetService, 'getDataset' | 'editCell' | 'createDataset' | 'appendRows'>;
  limits: ImageLimits & { zipMaxBytes: number };
}) {
  const { store, blobs, access, sheets, limits } = deps;

  /** The project's image by hash, or 404. */
  async function held(projectId: string, sha256: string) {
    const row = /^[0-9a-f]{64}$/.test(sha256) ? await store.find(projectId, sha256) : undefined;
    if (!row) throw notFound('image', sha256);
    return row;
  }

  /** A stored thumbnail's bytes, made again from the original if the cached file is gone. */
  async function thumbnailBytes(sha256: string): Promise<Buffer> {
    try {
      return await readFile(blobs.thumbnailPath(sha256));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const thumbnail = await makeThumbnail(
        await readFile(blobs.originalPath(sha256)),
        limits.maxPixels,
      );
      await blobs.putThumbnail(sha256, thumbnail);
      return thumbnail;
    }
  }

  /** The dataset an import fills: an image column and a file-name column. */
  async function importDataset(actor: Actor, projectId: string, name: string) {
    const dataset = await sheets.createDataset(actor, projectId, {
      name: imageFileName(name).replace(/\.zip$/i, '') || 'Images',
      columns: [
        { name: 'Image', type: 'image' },
        { name: 'File name', type: 'text' },
      ],
    });
    const [image, fileName] = dataset.columns;
    return { datasetId: dataset.id, image: image!.id, name: fileName!.id };
  }

  /** A dataset's static image column that dropped images go into, and its file-name column. */
  async function existingTarget(
    actor: Actor,
    projectId: string,
    into: { datasetId: string; columnId: string },
  ) {
    const dataset = await sheets.getDataset(actor, projectId, into.datasetId);
    const column = dataset.columns.find((candidate) => candidate.id === into.columnId);
    if (!column) throw notFound('column', into.columnId);
    if (column.type !== 'image' || column.kind !== 'static')
      throw validationError('Images go into image columns that are not computed', [
        { path: 'columnId', message: 'not a static image column' },
      ]);
    const name = dataset.columns.find(
      (candidate) =>
        candidate.name === 'File name' && candidate.type === 'text' && candidate.kind === 'static',
    );
    return { datasetId: into.datasetId, image: column.id, name: name?.id };
  }

  const service = {
    limits,

    /**
     * Checks one image (image-probe.ts), stores its bytes and thumbnail, and links it to the
     * project. A refused file is a result with the reason (imports go on with the next file).
     */
    async storeImage(projectId: string, image: IncomingImage): Promise<StoredImage> {
      const name = imageFileName(image.name);
      const probed = await probeImage(image.bytes, limits);
      if (!probed.ok)
        return {
          ok: false,
          name,
          reason: probed.reason,
          tooLarge: image.bytes.length > limits.maxBytes,
        };
      const sha256 = createHash('sha256').update(image.bytes).digest('hex');
      // Both files before the link: a project never holds a hash whose files are not in place.
      await Promise.all([
        blobs.putOriginal(sha256, image.bytes),
        blobs.putThumbnail(sha256, probed.thumbnail),
      ]);
      const reference: ImageReference = {
        sha256,
        mediaType: probed.mediaType,
        bytes: image.bytes.length,
        width: probed.width,
        height: probed.height,
        name,
      };
      await store.link(projectId, [reference]);
      return { ok: true, reference };
    },

    /**
     * Stores an image and writes its reference into one cell of an image column, if the cell
     * is still at `expectedVersion` (else 409 like any cell edit). A file that is not an
     * acceptable image is 415 (413 over the byte limit) naming `file`; nothing is written.
     */
    async uploadToCell(
      actor: Actor,
      projectId: string,
      datasetId: string,
      input: { rowId: bigint; columnId: string; expectedVersion: number; file: IncomingImage },
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const dataset = await sheets.getDataset(actor, projectId, datasetId);
      const column = dataset.columns.find((candidate) => candidate.id === input.columnId);
      if (!column) throw notFound('column', input.columnId);
      if (column.type !== 'image' || column.kind !== 'static')
        throw validationError('Images go into image columns that are not computed', [
          { path: 'columnId', message: 'not a static image column' },
        ]);
      const stored = await service.storeImage(projectId, input.file);
      if (!stored.ok)
        throw new AppError(
          stored.tooLarge ? 'PAYLOAD_TOO_LARGE' : 'UNSUPPORTED_MEDIA_TYPE',
          `${stored.name}: ${stored.reason}`,
          { details: { field: 'file', file: stored.name, reason: stored.reason } },
        );
      return sheets.editCell(actor, projectId, datasetId, {
        rowId: input.rowId,
        columnId: input.columnId,
        expectedVersion: input.expectedVersion,
        value: stored.reference as unknown as Record<string, unknown>,
      });
    },

    /**
     * Imports a ZIP of images, or many image files, as a new dataset: one row per image with
     * its file name (columns `Image` and `File name`) — or, `into` an existing dataset (images
     * dropped onto its grid), one new row per image in that static image column, with the file
     * name in its `File name` text column when it has one. Each file is checked on its own; one
     * that is refused (not an image, over a limit, truncated, a bomb) is listed with the reason
     * and the rest go on. Nothing is created when no file is an image.
     */
    async importImages(
      actor: Actor,
      projectId: string,
      input: {
        parts: AsyncIterable<{ filename: string; file: AsyncIterable<Uint8Array> }>;
        name?: string;
        into?: { datasetId: string; columnId: string };
      },
    ) {
      await access.requireRole(actor, projectId, 'editor');
      // Checked before any byte is received: a wrong target writes nothing.
      const existing = input.into && (await existingTarget(actor, projectId, input.into));
      const refused: { file: string; reason: string }[] = [];
      // Each image is checked and stored as its part arrives; the rows wait in the spool until
      // the whole upload has been received, so an upload that fails midway writes no row.
      const rows = createRowSpool<ImageReference>(blobs.tempPath());
      let firstName: string | undefined;
      try {
        for await (const source of receiveImageParts(input.parts, blobs, limits)) {
          firstName ??= source.name;
          for (const item of source.images) {
            if ('refused' in item) {
              refused.push({ file: imageFileName(item.name), reason: item.refused });
              continue;
            }
            const stored = await service.storeImage(projectId, item);
            if (stored.ok) await rows.add(stored.reference);
            else refused.push({ file: stored.name, reason: stored.reason });
          }
        }
        if (rows.count === 0)
          throw validationError('No file in the upload is an image this server accepts', [
            { path: 'file', message: refused[0]?.reason ?? 'no files' },
          ]);
        const target =
          existing ?? (await importDataset(actor, projectId, input.name ?? firstName ?? 'Images'));
        let imported = 0;
        for await (const batch of rows.batches(IMPORT_BATCH_ROWS)) {
          await sheets.appendRows(
            actor,
            projectId,
            target.datasetId,
            batch.map((reference) => ({
              [target.image]: reference as unknown as Record<string, unknown>,
              ...(target.name ? { [target.name]: reference.name } : {}),
            })),
          );
          imported += batch.length;
        }
        return { datasetId: target.datasetId, imported, refused };
      } finally {
        await rows.close();
      }
    },

    /** The original's file and media type, for a member of the project that holds it. */
    async original(actor: Actor, projectId: string, sha256: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const row = await held(projectId, sha256);
      return {
        path: blobs.originalPath(row.sha256),
        mediaType: row.media_type,
        bytes: Number(row.bytes),
        sha256: row.sha256,
      };
    },

    /**
     * The thumbnail's bytes (made again from the original if the cached one is gone). The
     * access check and the link lookup go out together (both must pass before a byte is read);
     * a thumbnail is a few kilobytes, so it is read whole and sent with its length.
     */
    async thumbnail(actor: Actor, projectId: string, sha256: string) {
      const [role, row] = await Promise.allSettled([
        access.requireRole(actor, projectId, 'viewer'),
        held(projectId, sha256),
      ]);
      // The access answer first: an outsider learns nothing from the link lookup.
      if (role.status === 'rejected') throw role.reason;
      if (row.status === 'rejected') throw row.reason;
      const { sha256: hash } = row.value;
      return { bytes: await thumbnailBytes(hash), path: blobs.thumbnailPath(hash), sha256: hash };
    },

    /**
     * Many thumbnails in one answer (the grid asks for the rows ahead of its viewport): one
     * access check and one link query for the lot; hashes the project does not hold are
     * absent from the answer, as a single GET answers 404 for them.
     */
    async thumbnails(actor: Actor, projectId: string, hashes: readonly string[]) {
      await access.requireRole(actor, projectId, 'viewer');
      const rows = await store.findMany(
        projectId,
        hashes.filter((sha256) => /^[0-9a-f]{64}$/.test(sha256)),
      );
      const found: { sha256: string; bytes: Buffer }[] = [];
      for (let at = 0; at < rows.length; at += THUMBNAIL_READS_AT_ONCE)
        found.push(
          ...(await Promise.all(
            rows.slice(at, at + THUMBNAIL_READS_AT_ONCE).map(async (row) => ({
              sha256: row.sha256,
              bytes: await thumbnailBytes(row.sha256),
            })),
          )),
        );
      return found;
    },

    /**
     * What the project holds among `hashes` (sha256, media type, bytes, dimensions), by hash;
     * a hash it does not hold is absent. No actor: the caller checked access (chat checks the
     * thread before it turns an attachment into a message part).
     */
    async heldImages(projectId: string, hashes: readonly string[]) {
      const rows = await store.findMany(
        projectId,
        hashes.filter((sha256) => /^[0-9a-f]{64}$/.test(sha256)),
      );
      return new Map(
        rows.map((row) => [
          row.sha256,
          {
            sha256: row.sha256,
            mediaType: row.media_type,
            bytes: Number(row.bytes),
            width: row.width,
            height: row.height,
          },
        ]),
      );
    },

    /**
     * The images among `hashes` the project holds, each with the reader of the bytes a model
     * is sent (originals models take as they are; SVG as its PNG rendering). One query for the
     * lot (runs check access when they start: no actor). A hash the project does not hold is
     * absent, so a reference copied from another project reads nothing.
     */
    async readForModel(projectId: string, hashes: readonly string[]) {
      const held = await service.heldImages(projectId, hashes);
      return new Map(
        [...held.values()].map((row) => [
          row.sha256,
          {
            mediaType: row.mediaType,
            read: async (): Promise<ModelImage> => {
              const bytes = await readFile(blobs.originalPath(row.sha256));
              return MODEL_MEDIA_TYPES.has(row.mediaType)
                ? { bytes, mediaType: row.mediaType }
                : { bytes: await pngRendition(bytes, limits.maxPixels), mediaType: 'image/png' };
            },
          },
        ]),
      );
    },
  };
  return service;
}
export type ImageService = ReturnType<typeof createImageService>;
