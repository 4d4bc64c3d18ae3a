import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import multipart from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../platform/app-error.ts';
import { imageHeaders, notModified } from '../../platform/http/image-headers.ts';
import { readOneFile } from '../../platform/http/multipart-file.ts';
import { attachment } from '../sheet-dataset-routes.ts';
import { presentEditedCell } from '../sheet-presenter.ts';
import { nameSchema, rowIdStringSchema } from '../sheet-schema.ts';
import { IMAGE_EXPORT_FORMATS } from './image-export.ts';
import { MAX_IMPORT_FILES } from './image-import.ts';
import { THUMBNAIL_MEDIA_TYPE } from './image-probe.ts';
import type { ImageService } from './image-service.ts';
import type { ImagesModule } from './images-module.ts';

const projectParams = z.object({ projectId: z.uuid() });
const sha256Schema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be a sha256 (64 lowercase hex digits)');
const imageParams = projectParams.extend({ sha256: sha256Schema });
/** Hashes one thumbnails request may name (about 20 rows of five image columns). */
export const MAX_THUMBNAILS_PER_BATCH = 200;
const cellParams = projectParams.extend({
  datasetId: z.uuid(),
  rowId: rowIdStringSchema,
  columnId: z.uuid(),
});

/** Image values HTTP API (docs/images.md): validate → service → bytes or JSON. */
export const imageRoutes: FastifyPluginAsyncZod<{
  images: ImageService;
  exports: ImagesModule['exports'];
}> = async (app, options) => {
  const { images } = options;
  const tags = ['images'];
  const base = '/api/projects/:projectId/images';

  await app.register(multipart, {
    // Each part is counted again while streaming to disk (streamToTempFile).
    limits: {
      fileSize: Math.max(images.limits.zipMaxBytes, images.limits.maxBytes) + 1,
      files: MAX_IMPORT_FILES,
      fields: 10,
    },
  });
  const requireMultipart = (request: FastifyRequest) => {
    if (!request.isMultipart())
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the images as multipart/form-data', {
        details: { field: 'file' },
      });
  };

  app.post(
    `${base}/import`,
    {
      schema: {
        tags,
        summary:
          'Import a ZIP of images, or image files, as a new dataset or as new rows of one (editor)',
        description:
          'multipart/form-data with `file` parts: each a ZIP of images or one image. One row per image with its file name (columns `Image` and `File name`). With `datasetId` and `columnId` (images dropped onto a grid), the rows are added to that dataset instead: the image in that static image column, the file name in its `File name` text column if it has one (400 naming `columnId` for another column). Each file is checked by its bytes and decoded dimensions; refused files (not an image, over BRAINCELLS_IMAGE_MAX_BYTES or BRAINCELLS_IMAGE_MAX_PIXELS, truncated, a bomb) are listed with the reason and the rest are imported. 400 when no file is an image; 413 for a part over BRAINCELLS_IMAGE_ZIP_MAX_BYTES.',
        params: projectParams,
        querystring: z
          .object({
            name: nameSchema.optional(),
            datasetId: z.uuid().optional(),
            columnId: z.uuid().optional(),
          })
          .refine((query) => (query.datasetId === undefined) === (query.columnId === undefined), {
            path: ['columnId'],
            message: 'datasetId and columnId go together',
          }),
      },
    },
    async (request, reply) => {
      requireMultipart(request);
      const { name, datasetId, columnId } = request.query;
      const result = await images.importImages(request.actor, request.params.projectId, {
        parts: request.files(),
        ...(name ? { name } : {}),
        ...(datasetId && columnId ? { into: { datasetId, columnId } } : {}),
      });
      reply.status(201);
      return result;
    },
  );

  app.post(
    '/api/projects/:projectId/datasets/:datasetId/rows/:rowId/cells/:columnId/image',
    {
      schema: {
        tags,
        summary: 'Upload an image into a cell of an image column (editor)',
        description:
          'multipart/form-data with one `file` part. Written if the cell is still at `expectedVersion` (409 otherwise). 415 when the file is not an image this server accepts, 413 over BRAINCELLS_IMAGE_MAX_BYTES; both name `file` and write nothing.',
        params: cellParams,
        querystring: z.object({ expectedVersion: z.coerce.number().int().min(0) }),
      },
    },
    async (request) => {
      requireMultipart(request);
      const part = await readOneFile(request, { maxBytes: images.limits.maxBytes, noun: 'image' });
      const { projectId, datasetId, rowId, columnId } = request.params;
      return presentEditedCell(
        await images.uploadToCell(request.actor, projectId, datasetId, {
          rowId: BigInt(rowId),
          columnId,
          expectedVersion: request.query.expectedVersion,
          file: { name: part.filename, bytes: part.bytes },
        }),
      );
    },
  );

  app.get(
    '/api/projects/:projectId/datasets/:datasetId/export/images',
    {
      schema: {
        tags,
        summary: 'Download the dataset with its images (streamed; viewer)',
        description:
          "csv, tsv, jsonl, xlsx: a ZIP holding `data.<format>`, whose image cells give the relative path of their file, and the files under `images/` (`<first 12 hex of the hash>-<file name>`, any character but letters, digits, `.`, `_` and `-` replaced by `_`: no name leaves the archive root). At most 65,535 files and 4 GiB (400 beyond: export as Parquet). parquet: image columns as structs `{bytes, path}`, the Hugging Face `Image` feature, declared in the file's `huggingface` metadata. Images the project does not hold export as null.",
        params: projectParams.extend({ datasetId: z.uuid() }),
        querystring: z.object({
          format: z.enum(IMAGE_EXPORT_FORMATS).default('parquet'),
          metadata: z.enum(['true', 'false']).default('false'),
        }),
      },
    },
    async (request, reply) => {
      const exported = await options.exports.exportWithImages(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        { format: request.query.format, withMetadata: request.query.metadata === 'true' },
      );
      const stream = createReadStream(exported.path);
      stream.on('close', () => void rm(exported.path, { force: true }));
      reply.header('content-type', exported.contentType);
      reply.header('content-disposition', attachment(exported.datasetName, exported.extension));
      return reply.send(stream);
    },
  );

  // The original and the thumbnail: same access check, same headers, bytes from our files.
  const imageRoute = (
    path: string,
    summary: string,
    read: (
      actor: FastifyRequest['actor'],
      projectId: string,
      sha256: string,
    ) => Promise<{ sha256: string; mediaType: string; send: (reply: FastifyReply) => unknown }>,
  ) =>
    app.get(path, { schema: { tags, summary, params: imageParams } }, async (request, reply) => {
      const found = await read(request.actor, request.params.projectId, request.params.sha256);
      imageHeaders(reply, found.sha256, found.mediaType);
      if (notModified(request, found.sha256)) return reply.status(304).send();
      return found.send(reply);
    });
  imageRoute(
    `${base}/:sha256`,
    "An image's original bytes (members of a project that holds it; else 404)",
    async (actor, projectId, sha256) => {
      const found = await images.original(actor, projectId, sha256);
      return {
        ...found,
        send: (reply) =>
          reply.header('content-length', found.bytes).send(createReadStream(found.path)),
      };
    },
  );
  imageRoute(
    `${base}/:sha256/thumbnail`,
    `An image's thumbnail (${THUMBNAIL_MEDIA_TYPE}, made on our server; SVG rasterized)`,
    async (actor, projectId, sha256) => {
      const found = await images.thumbnail(actor, projectId, sha256);
      return {
        ...found,
        mediaType: THUMBNAIL_MEDIA_TYPE,
        // A few kilobytes, sent whole with its length: no stream to set up per request.
        send: (reply) => reply.send(found.bytes),
      };
    },
  );

  app.post(
    `${base}/thumbnails`,
    {
      // Only reads (a list of hashes too long for a URL): open to read-only API keys.
      config: { readOnly: true },
      schema: {
        tags,
        summary: 'Many thumbnails in one answer (the grid asks for the rows ahead of its view)',
        description: `Up to ${MAX_THUMBNAILS_PER_BATCH} hashes → \`{ thumbnails: [{ sha256, mediaType, data }] }\`, \`data\` the ${THUMBNAIL_MEDIA_TYPE} thumbnail in base64 (SVG rasterized). Hashes the project does not hold are left out, as a single GET answers 404 for them. Viewer.`,
        params: projectParams,
        body: z.object({
          sha256: z.array(sha256Schema).min(1).max(MAX_THUMBNAILS_PER_BATCH),
        }),
      },
    },
    async (request, reply) => {
      const found = await images.thumbnails(
        request.actor,
        request.params.projectId,
        request.body.sha256,
      );
      reply.header('cache-control', 'private, no-store');
      return {
        thumbnails: found.map((thumbnail) => ({
          sha256: thumbnail.sha256,
          mediaType: THUMBNAIL_MEDIA_TYPE,
          data: thumbnail.bytes.toString('base64'),
        })),
      };
    },
  );
};
