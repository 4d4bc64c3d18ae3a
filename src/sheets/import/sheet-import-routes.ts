import { z } from 'zod';
import { AppError, validationError } from '../../platform/app-error.ts';
import type { RouteTable } from '../../platform/http/route-definition.ts';
import { streamToClient } from '../../platform/http/sse.ts';
import { projectParams, type SheetRoutesOptions } from '../sheet-route-common.ts';
import { nameSchema } from '../sheet-schema.ts';
import { importUrlSchema } from './import-url.ts';
import { hubSourceSchema, importOptionsSchema, importStream } from './sheet-import-service.ts';

const importParams = projectParams.extend({ importId: z.uuid() });

/** Import routes: upload, URL and Hub sources, preview with options, start, cancel, progress. */
export function importRoutes(route: RouteTable, options: SheetRoutesOptions) {
  const { imports } = options;
  const importsBase = '/api/projects/:projectId/imports';

  route.post(
    importsBase,
    {
      summary:
        'Upload a file to import (multipart, field "file"); previewed, started with ?start=true or /start',
      params: projectParams,
      query: z.object({
        start: z.enum(['true', 'false']).default('false'),
        name: nameSchema.optional(),
        format: importOptionsSchema.shape.format,
        sheet: z.string().max(200).optional(),
      }),
      status: 201,
    },
    async (request) => {
      if (!request.isMultipart())
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          'Send the file as multipart/form-data (field "file")',
        );
      const part = await request.file();
      if (!part)
        throw validationError('No file in the request', [{ path: 'file', message: 'required' }]);
      const { name, format, sheet, start } = request.query;
      return imports.createUpload(request.actor, request.params.projectId, {
        body: part.file,
        // The client's filename is display data only; it never names a file on disk.
        filename: part.filename || 'upload',
        options: {
          ...(name ? { name } : {}),
          ...(format ? { format } : {}),
          ...(sheet ? { sheet: /^\d+$/.test(sheet) ? Number(sheet) : sheet } : {}),
        },
        start: start === 'true',
      });
    },
  );

  route.post(
    `${importsBase}/url`,
    {
      summary: 'Import from an http(s) URL',
      params: projectParams,
      body: z.object({ url: importUrlSchema, options: importOptionsSchema.optional() }),
      status: 202,
    },
    async (request) =>
      imports.createFromUrl(request.actor, request.params.projectId, {
        url: request.body.url,
        ...(request.body.options ? { options: request.body.options } : {}),
      }),
  );

  route.post(
    `${importsBase}/hub`,
    {
      summary: 'Import a file of a Hugging Face Hub dataset',
      params: projectParams,
      body: hubSourceSchema.extend({
        revision: z.string().max(100).optional(),
        options: importOptionsSchema.optional(),
      }),
      status: 202,
    },
    async (request) => {
      const { repo, file, revision, options: importOptions } = request.body;
      return imports.createFromHub(request.actor, request.params.projectId, {
        repo,
        file,
        ...(revision ? { revision } : {}),
        ...(importOptions ? { options: importOptions } : {}),
      });
    },
  );

  route.get(
    `${importsBase}/:importId`,
    {
      summary: 'An import: preview, progress, rejected lines, outcome',
      description:
        "After a successful import, `rejects` lists the first malformed lines (line, reason) and `conversions` the columns with cells that did not convert to their type: `[{ columnId, column, type, failed, failures: [{ rowId, raw }] }]` (first 100). Those cells are empty with status `error` and their source text in the cell state's `raw`.",
      params: importParams,
    },
    async (request) =>
      imports.getImport(request.actor, request.params.projectId, request.params.importId),
  );

  route.post(
    `${importsBase}/:importId/preview`,
    {
      summary: 'Preview an uploaded import again with options (dialect, header, nulls, formats)',
      description:
        'The options are kept for the start. `preview.dialect` is the CSV dialect the import will use (date and timestamp formats included: null for ISO dates, read by DuckDB itself), and sent back as `csv` as it is reads the same table; `preview.warnings` lists what the reader does differently (line ends normalized, NUL bytes removed, lines not UTF-8, Latin-1, first row read as data) and options that look wrong (`implausible-dialect`: one column from a first line with many delimiters).',
      params: importParams,
      body: importOptionsSchema.default({}),
    },
    async (request) =>
      imports.previewImport(
        request.actor,
        request.params.projectId,
        request.params.importId,
        request.body,
      ),
  );

  route.post(
    `${importsBase}/:importId/start`,
    {
      summary: 'Start an uploaded import (with type and dialect overrides)',
      params: importParams,
      body: importOptionsSchema.default({}),
      status: 202,
    },
    async (request) =>
      imports.startImport(
        request.actor,
        request.params.projectId,
        request.params.importId,
        request.body,
      ),
  );

  route.post(
    `${importsBase}/:importId/cancel`,
    { summary: 'Cancel an import', params: importParams },
    async (request) =>
      imports.cancelImport(request.actor, request.params.projectId, request.params.importId),
  );

  route.get(
    `${importsBase}/:importId/events`,
    { summary: 'Import progress (Server-Sent Events)', params: importParams },
    async (request, reply) => {
      await imports.getImport(request.actor, request.params.projectId, request.params.importId);
      streamToClient(request, reply, options.events, importStream(request.params.importId));
    },
  );
}
