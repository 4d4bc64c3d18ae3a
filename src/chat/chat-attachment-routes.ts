import { createReadStream } from 'node:fs';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError } from '../platform/app-error.ts';
import { imageHeaders, notModified } from '../platform/http/image-headers.ts';
import { readOneFile } from '../platform/http/multipart-file.ts';
import { THUMBNAIL_MEDIA_TYPE } from '../sheets/images/image-probe.ts';
import type { ChatAttachments } from './chat-attachments.ts';
import { chatRoute } from './chat-route-helpers.ts';
import { attachmentSchema, sha256Schema, threadParams } from './chat-schema.ts';

const imageParams = threadParams.extend({ sha256: sha256Schema });

/**
 * Images in chat over REST (docs/chat.md "Images"; docs/decisions/2026-12-07-chat-image-
 * uploads.md): upload one image to a thread, then name its hash in a send's `attachments`;
 * the original and its thumbnail are served from our origin to the project's members.
 */
export const chatAttachmentRoutes: FastifyPluginAsyncZod<{ attachments: ChatAttachments }> = async (
  app,
  options,
) => {
  const { attachments } = options;
  const maxBytes = attachments.limits.maxBytes;
  const thread = '/api/projects/:projectId/chat/threads/:threadId';
  await app.register(multipart, { limits: { fileSize: maxBytes + 1, files: 1, fields: 2 } });

  app.post(
    `${thread}/attachments`,
    chatRoute('Upload an image for a message of the thread (editor)', {
      description: `multipart/form-data with one \`file\` part: a PNG, JPEG, GIF or WebP, recognised by its bytes (the name and the declared type are not trusted). Its decoded dimensions are checked against BRAINCELLS_IMAGE_MAX_PIXELS before any pixel is inflated (a decompression bomb is refused), its size against BRAINCELLS_IMAGE_MAX_BYTES (413), and it must decode whole. SVG is refused (415). 201 with the reference to put in a send's \`attachments\`; the same bytes twice are stored once. Every refusal names \`file\` and writes nothing.`,
      params: threadParams,
      response: { 201: attachmentSchema },
    }),
    async (request, reply) => {
      if (!request.isMultipart())
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the image as multipart/form-data', {
          details: { field: 'file' },
        });
      const part = await readOneFile(request, { maxBytes, noun: 'image' });
      const { projectId, threadId } = request.params;
      const stored = await attachments.upload(request.actor, projectId, threadId, {
        name: part.filename,
        bytes: part.bytes,
      });
      return reply.status(201).send(stored);
    },
  );

  app.get(
    `${thread}/attachments/:sha256`,
    chatRoute("An image's original bytes (viewer of the thread's project; else 404)", {
      params: imageParams,
    }),
    async (request, reply) => {
      const { projectId, threadId, sha256 } = request.params;
      const found = await attachments.original(request.actor, projectId, threadId, sha256);
      imageHeaders(reply, found.sha256, found.mediaType);
      if (notModified(request, found.sha256)) return reply.status(304).send();
      return reply.header('content-length', found.bytes).send(createReadStream(found.path));
    },
  );

  app.get(
    `${thread}/attachments/:sha256/thumbnail`,
    chatRoute(`An image's thumbnail (${THUMBNAIL_MEDIA_TYPE}, at most 256 px a side; viewer)`, {
      params: imageParams,
    }),
    async (request, reply) => {
      const { projectId, threadId, sha256 } = request.params;
      const found = await attachments.thumbnail(request.actor, projectId, threadId, sha256);
      imageHeaders(reply, found.sha256, THUMBNAIL_MEDIA_TYPE);
      if (notModified(request, found.sha256)) return reply.status(304).send();
      return reply.send(found.bytes);
    },
  );
};
