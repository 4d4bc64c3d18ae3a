import { createReadStream } from 'node:fs';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../platform/app-error.ts';
import { nameSchema } from '../sheets/sheet-schema.ts';
import { type DocumentService, UPLOAD_MAX_FILES } from './document-service.ts';

const projectParams = z.object({ projectId: z.uuid() });
const documentParams = projectParams.extend({ documentId: z.uuid() });
/** Originals the browser may show in the app (`?inline=true`): by their sniffed type only. */
const INLINE_TYPES = new Set([
  'application/pdf',
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
]);

/** Documents HTTP API (docs/documents.md): validate → service → JSON. */
export const documentRoutes: FastifyPluginAsyncZod<{
  documents: DocumentService;
  maxFileBytes: number;
}> = async (app, options) => {
  const { documents } = options;
  const tags = ['documents'];
  const base = '/api/projects/:projectId/documents';

  await app.register(multipart, {
    // Each file is counted again while streaming (document-service.ts `receive`).
    limits: { fileSize: options.maxFileBytes + 1, files: UPLOAD_MAX_FILES, fields: 10 },
  });

  app.post(
    base,
    {
      schema: {
        tags,
        summary: 'Upload documents (editor): many files at once into a documents collection',
        description:
          'multipart/form-data with any number of `file` parts. Without `datasetId` a new collection (a dataset) is made. Each file is sniffed by its bytes; unsupported ones are recorded with the reason, duplicates (same content in the collection) are skipped and listed. A file over BRAINCELLS_DOCUMENT_MAX_BYTES or an upload over BRAINCELLS_DOCUMENT_BATCH_MAX_BYTES answers 413 and keeps nothing. Text extraction runs in a job; follow it with GET /documents?datasetId=.',
        params: projectParams,
        querystring: z.object({ datasetId: z.uuid().optional(), name: nameSchema.optional() }),
      },
    },
    async (request, reply) => {
      if (!request.isMultipart())
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the files as multipart/form-data');
      const result = await documents.upload(request.actor, request.params.projectId, {
        files: request.files(),
        ...(request.query.datasetId ? { datasetId: request.query.datasetId } : {}),
        ...(request.query.name ? { name: request.query.name } : {}),
      });
      reply.status(202);
      return result;
    },
  );

  app.post(
    `${base}/samples`,
    {
      schema: {
        tags,
        summary: 'Add a new collection of sample documents (editor)',
        description:
          'Six sample invoices and statements made by the app (text, Markdown, HTML and a five-page PDF), with two planted findings: an amount far above the others and an invoice number billed twice. They are extracted like any upload; the "Investigate documents" workflow template runs on them.',
        params: projectParams,
        body: z.object({ name: nameSchema.optional() }).default({}),
      },
    },
    async (request, reply) => {
      reply.status(202);
      return documents.addSamples(request.actor, request.params.projectId, {
        ...(request.body.name ? { name: request.body.name } : {}),
      });
    },
  );

  app.get(
    base,
    {
      schema: {
        tags,
        summary: "A collection's documents with their extraction status, and counts by status",
        params: projectParams,
        querystring: z.object({ datasetId: z.uuid() }),
      },
    },
    async (request) =>
      documents.list(request.actor, request.params.projectId, request.query.datasetId),
  );

  app.get(
    `${base}/collections`,
    {
      schema: {
        tags,
        summary: "The project's documents collections (datasets holding documents)",
        params: projectParams,
      },
    },
    async (request) => ({
      items: await documents.collections(request.actor, request.params.projectId),
    }),
  );

  app.get(
    `${base}/:documentId`,
    { schema: { tags, summary: 'One document', params: documentParams } },
    async (request) =>
      documents.get(request.actor, request.params.projectId, request.params.documentId),
  );

  app.delete(
    `${base}/:documentId`,
    {
      schema: {
        tags,
        summary: 'Delete a document (editor): its row, its record, and its original if unshared',
        description:
          'A document a workflow uses (its collection is read by a workflow step) answers 409 with `details.usedBy` naming the workflows, unless `force=true`; a forced delete is audited as `document.delete-forced` with them.',
        params: documentParams,
        querystring: z.object({ force: z.enum(['true', 'false']).optional() }),
      },
    },
    async (request, reply) => {
      await documents.remove(request.actor, request.params.projectId, request.params.documentId, {
        force: request.query.force === 'true',
      });
      return reply.status(204).send();
    },
  );

  app.get(
    `${base}/:documentId/original`,
    {
      schema: {
        tags,
        summary:
          'The original file: an attachment, or with inline=true a PDF or raster image shown in the app (anything else stays an attachment)',
        params: documentParams,
        querystring: z.object({ inline: z.enum(['true', 'false']).optional() }),
      },
    },
    async (request, reply) => {
      const original = await documents.original(
        request.actor,
        request.params.projectId,
        request.params.documentId,
      );
      const ascii = original.name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
      // The media type is the one sniffed from the bytes at upload. Only a PDF (in a frame of
      // the app: Chrome's viewer does not run in a sandboxed document) and a raster image are
      // ever inline; HTML, SVG and the rest are attachments whatever is asked.
      const inline = request.query.inline === 'true' && INLINE_TYPES.has(original.mediaType);
      return reply
        .header('content-type', original.mediaType)
        .header('content-length', original.size)
        .header('x-content-type-options', 'nosniff')
        .header(
          'content-security-policy',
          inline && original.mediaType === 'application/pdf'
            ? "default-src 'none'; frame-ancestors 'self'"
            : "default-src 'none'; sandbox",
        )
        .header(
          'content-disposition',
          `${inline ? 'inline' : 'attachment'}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(original.name)}`,
        )
        .send(createReadStream(original.path));
    },
  );
};
