import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { validationError } from '../platform/app-error.ts';
import { jsonTextTooDeep, MAX_JSON_BODY_DEPTH } from '../platform/http/json-body.ts';
import { readOneFile } from '../platform/http/multipart-file.ts';
import { parseExportFile } from './chat-import-formats.ts';
import { chatRoute } from './chat-route-helpers.ts';
import { modelName, projectParams, providerRef, threadParams } from './chat-schema.ts';
import type { ChatTransferService } from './chat-transfer-service.ts';

/** The largest export file an import reads (JSON body or uploaded file). */
export const CHAT_IMPORT_MAX_BYTES = 50 * 1024 * 1024;

/** Content-Disposition for a user-named file: ASCII fallback plus RFC 6266/5987 UTF-8 name. */
function attachment(name: string, extension: string): string {
  const base = name.replace(/[^\p{L}\p{N} ._-]/gu, '_').slice(0, 150) || 'chat';
  const ascii = base.replace(/[^\x20-\x7e]/g, '_');
  return `attachment; filename="${ascii}.${extension}"; filename*=UTF-8''${encodeURIComponent(`${base}.${extension}`)}`;
}

const importQuery = z.strictObject({
  /** The model the imported threads continue with; default: the one the file names. */
  model: modelName.optional(),
  provider: providerRef.optional(),
});

const importResultSchema = z.object({
  source: z.enum(['chatgpt', 'claude']),
  conversations: z.number(),
  createdThreads: z.number(),
  addedMessages: z.number(),
  threads: z.array(
    z.object({
      threadId: z.uuid(),
      sourceId: z.string(),
      title: z.string(),
      created: z.boolean(),
      addedMessages: z.number(),
    }),
  ),
});

/** Export and import of chat threads over REST (docs/chat.md "Import and export"). */
export const chatTransferRoutes: FastifyPluginAsyncZod<{ transfer: ChatTransferService }> = async (
  app,
  options,
) => {
  const { transfer } = options;
  await app.register(multipart, {
    limits: { fileSize: CHAT_IMPORT_MAX_BYTES, files: 1, fields: 5 },
  });

  app.get(
    '/api/projects/:projectId/chat/threads/:threadId/export',
    chatRoute('Export a thread with every branch as Markdown or JSON (viewer)', {
      description:
        '`format=md` (default): the current branch, then each other branch from where it leaves one already written. `format=json`: `{format: "braincells.chat-thread", version: 1, thread, messages}` — every message with `parentId`, parents first. Sent as an attachment.',
      params: threadParams,
      querystring: z.strictObject({ format: z.enum(['md', 'json']).default('md') }),
    }),
    async (request, reply) => {
      const { projectId, threadId } = request.params;
      const exported = await transfer.exportThread(
        request.actor,
        projectId,
        threadId,
        request.query.format,
      );
      reply.header('content-disposition', attachment(exported.title, exported.format));
      if (exported.format === 'md')
        return reply.type('text/markdown; charset=utf-8').send(exported.body);
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(exported.body));
    },
  );

  app.post(
    '/api/projects/:projectId/chat/imports',
    {
      bodyLimit: CHAT_IMPORT_MAX_BYTES,
      ...chatRoute('Import a ChatGPT or Claude export (conversations.json) as threads (editor)', {
        description: `The export as the JSON body, or as the \`file\` part of multipart/form-data (at most ${CHAT_IMPORT_MAX_BYTES} bytes). The format is recognised by its shape (ChatGPT: \`mapping\`; Claude: \`chat_messages\`); anything else is 400 naming where it stopped fitting, and nothing is written. Threads and messages keep their source ids: importing the same file again adds nothing, a newer export of a conversation adds only its new messages. 200 with what was added.`,
        params: projectParams,
        querystring: importQuery,
        response: { 200: importResultSchema },
      }),
    },
    async (request) => {
      let data: unknown;
      if (request.isMultipart()) {
        const { bytes } = await readOneFile(request, {
          maxBytes: CHAT_IMPORT_MAX_BYTES,
          noun: 'file',
        });
        const text = bytes.toString('utf8');
        if (jsonTextTooDeep(text, MAX_JSON_BODY_DEPTH))
          throw validationError(`The file nests deeper than ${MAX_JSON_BODY_DEPTH} levels`, [
            { path: 'file', message: 'too deep' },
          ]);
        data = parseExportFile(text);
      } else if (request.body === undefined) {
        throw validationError('Send the export as a JSON body or a multipart `file`', [
          { path: 'file', message: 'required' },
        ]);
      } else data = request.body;
      return transfer.importExport(request.actor, request.params.projectId, data, request.query);
    },
  );
};
