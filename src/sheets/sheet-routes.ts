import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, validationError } from '../platform/app-error.ts';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import type { EventBus } from '../platform/events.ts';
import { streamToClient } from '../platform/http/sse.ts';
import { EXPORT_FORMATS } from './export/sheet-export.ts';
import type { SheetExportService } from './export/sheet-export-service.ts';
import { importUrlSchema } from './import/import-url.ts';
import {
  hubSourceSchema,
  importOptionsSchema,
  importStream,
  type SheetImportService,
} from './import/sheet-import-service.ts';
import {
  bulkCellEditSchema,
  cellValueSchema,
  columnTypeSchema,
  createColumnSchema,
  createDatasetSchema,
  nameSchema,
  rowIdStringSchema,
  windowQuerySchema,
} from './sheet-schema.ts';
import { datasetStream, type SheetService } from './sheet-service.ts';

export interface SheetRoutesOptions {
  sheets: SheetService;
  imports: SheetImportService;
  /** Downloads (audited use case). */
  exports: SheetExportService;
  events: EventBus;
  duckdb: DuckDb;
  dataDir: string;
  importMaxBytes: number;
}

const projectParams = z.object({ projectId: z.uuid() });
const datasetParams = projectParams.extend({ datasetId: z.uuid() });
const columnParams = datasetParams.extend({ columnId: z.uuid() });
const importParams = projectParams.extend({ importId: z.uuid() });
/** The bulk cell edit's body limit (the global one when that is larger). */
const BULK_EDIT_BODY_BYTES = 8 * 1024 * 1024;

/** Content-Disposition for a user-named file: ASCII fallback plus RFC 6266/5987 UTF-8 name. */
function attachment(name: string, extension: string): string {
  const base = name.replace(/[^\p{L}\p{N} ._-]/gu, '_').slice(0, 150) || 'dataset';
  const ascii = base.replace(/[^\x20-\x7e]/g, '_');
  return `attachment; filename="${ascii}.${extension}"; filename*=UTF-8''${encodeURIComponent(`${base}.${extension}`)}`;
}

/** XLSX exports: how many cells were cut to Excel's cell limit. */
export const TRUNCATED_CELLS_HEADER = 'x-braincells-truncated-cells';

/** Sheets HTTP API: validate → service → present. Every route needs a session or API key. */
export const sheetRoutes: FastifyPluginAsyncZod<SheetRoutesOptions> = async (app, options) => {
  const { sheets, imports, events } = options;
  const tags = ['sheets'];
  const base = '/api/projects/:projectId/datasets';

  await app.register(multipart, {
    // One file per request, counted again while streaming to disk (streamToTempFile).
    limits: {
      fileSize: options.importMaxBytes + 1,
      files: 1,
      fields: 20,
      parts: 21,
      fieldSize: 64 * 1024,
    },
  });

  app.get(
    base,
    {
      schema: {
        tags,
        summary: 'Datasets of a project',
        params: projectParams,
        querystring: z.object({ deleted: z.enum(['true', 'false']).optional() }),
      },
    },
    async (request) => ({
      items: await sheets.listDatasets(request.actor, request.params.projectId, {
        deleted: request.query.deleted === 'true',
      }),
    }),
  );

  app.post(
    base,
    {
      schema: {
        tags,
        summary: 'Create an empty dataset',
        params: projectParams,
        body: createDatasetSchema,
      },
    },
    async (request, reply) => {
      reply.status(201);
      return sheets.createDataset(request.actor, request.params.projectId, request.body);
    },
  );

  app.get(
    `${base}/:datasetId`,
    {
      schema: { tags, summary: 'A dataset with its columns and row count', params: datasetParams },
    },
    async (request) =>
      sheets.getDataset(request.actor, request.params.projectId, request.params.datasetId),
  );

  app.patch(
    `${base}/:datasetId`,
    {
      schema: {
        tags,
        summary: 'Rename a dataset',
        params: datasetParams,
        body: z.object({ name: nameSchema }),
      },
    },
    async (request) =>
      sheets.renameDataset(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body.name,
      ),
  );

  app.post(
    `${base}/:datasetId/duplicate`,
    {
      schema: {
        tags,
        summary: "Copy a dataset (values, cell states, formulas, AI columns' processes; not runs)",
        params: datasetParams,
        body: z.object({ name: nameSchema.optional() }).default({}),
      },
    },
    async (request, reply) => {
      reply.status(201);
      return sheets.duplicateDataset(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body.name,
      );
    },
  );

  app.delete(
    `${base}/:datasetId`,
    {
      schema: {
        tags,
        summary: 'Delete a dataset (restorable until purged)',
        params: datasetParams,
      },
    },
    async (request, reply) => {
      await sheets.deleteDataset(request.actor, request.params.projectId, request.params.datasetId);
      return reply.status(204).send();
    },
  );

  app.post(
    `${base}/:datasetId/restore`,
    { schema: { tags, summary: 'Restore a deleted dataset', params: datasetParams } },
    async (request) =>
      sheets.restoreDataset(request.actor, request.params.projectId, request.params.datasetId),
  );

  app.post(
    `${base}/:datasetId/columns`,
    {
      schema: {
        tags,
        summary: 'Add a static or formula column',
        description:
          'A formula is a DuckDB expression over `{{Column Name}}` references. A row it fails on (a failed cast, malformed JSON) gets an empty value and status `error` with the message in the cell state; a NULL it returns is a value.',
        params: datasetParams,
        body: createColumnSchema,
      },
    },
    async (request, reply) => {
      reply.status(201);
      return sheets.addColumn(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body,
      );
    },
  );

  app.patch(
    `${base}/:datasetId/columns/:columnId`,
    {
      schema: {
        tags,
        summary:
          'Rename, retype (cast; failures reported per cell), hide or change the formula of a column',
        params: columnParams,
        body: z.object({
          name: nameSchema.optional(),
          type: columnTypeSchema.optional(),
          hidden: z.boolean().optional(),
          formula: z.string().min(1).max(4_000).optional(),
        }),
      },
    },
    async (request) => {
      const { name, type, hidden, formula } = request.body;
      return sheets.updateColumn(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.params.columnId,
        {
          ...(name === undefined ? {} : { name }),
          ...(type === undefined ? {} : { type }),
          ...(hidden === undefined ? {} : { hidden }),
          ...(formula === undefined ? {} : { formula }),
        },
      );
    },
  );

  app.delete(
    `${base}/:datasetId/columns/:columnId`,
    {
      schema: {
        tags,
        summary: 'Delete a column and its values',
        description:
          'Refused with 409 CONFLICT while formula columns use the column. While AI columns read it in their prompts, refused with 409 CONFLICT naming them (details.columnIds, details.canForce) unless force=true: then their runs stop, their generated cells turn stale and their prompts show {{deleted column}} until edited (runs are refused with 409 until then).',
        params: columnParams,
        querystring: z.object({ force: z.enum(['true', 'false']).optional() }),
      },
    },
    async (request, reply) => {
      await sheets.deleteColumn(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.params.columnId,
        { force: request.query.force === 'true' },
      );
      return reply.status(204).send();
    },
  );

  app.post(
    `${base}/:datasetId/columns/:columnId/duplicate`,
    {
      schema: {
        tags,
        summary: 'Copy a column beside itself',
        description:
          "Named `<name> (copy)` (then `(copy 2)`, …) unless `name` is given. A static column's values are copied, a formula column's formula; an AI column stays an AI column with the same process (prompt, instructions, model, parameters, output type, search) and the source's values and cell states, as up to date as the source. Runs are not copied.",
        params: columnParams,
        body: z.object({ name: nameSchema.optional() }).default({}),
      },
    },
    async (request, reply) => {
      reply.status(201);
      return sheets.duplicateColumn(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.params.columnId,
        request.body.name,
      );
    },
  );

  app.put(
    `${base}/:datasetId/columns/order`,
    {
      schema: {
        tags,
        summary: 'Reorder columns',
        params: datasetParams,
        body: z.object({ columnIds: z.array(z.uuid()).max(10_000) }),
      },
    },
    async (request) => ({
      items: await sheets.reorderColumns(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body.columnIds,
      ),
    }),
  );

  app.get(
    `${base}/:datasetId/rows`,
    {
      schema: {
        tags,
        summary: 'A window of rows (offset/limit, or keyset after a row id)',
        params: datasetParams,
        querystring: z.object({
          offset: z.coerce.number().int().min(0).optional(),
          limit: z.coerce.number().int().min(1).max(1_000).optional(),
          afterRowId: rowIdStringSchema.optional(),
          search: z.string().max(1_000).optional(),
        }),
      },
    },
    async (request) => {
      const { offset, limit, afterRowId, search } = request.query;
      return sheets.readWindow(request.actor, request.params.projectId, request.params.datasetId, {
        ...(offset === undefined ? {} : { offset }),
        ...(limit === undefined ? {} : { limit }),
        ...(afterRowId === undefined ? {} : { afterRowId }),
        ...(search === undefined ? {} : { search }),
      });
    },
  );

  app.post(
    `${base}/:datasetId/rows/query`,
    {
      config: { readOnly: true },
      schema: {
        tags,
        summary: 'A window of rows, sorted and filtered',
        params: datasetParams,
        body: windowQuerySchema,
      },
    },
    async (request) =>
      sheets.readWindow(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body,
      ),
  );

  app.post(
    `${base}/:datasetId/rows`,
    {
      schema: {
        tags,
        summary: 'Append rows (values keyed by column id)',
        params: datasetParams,
        body: z.object({ rows: z.array(z.record(z.uuid(), cellValueSchema)).min(1).max(10_000) }),
      },
    },
    async (request, reply) => {
      reply.status(201);
      return sheets.appendRows(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body.rows,
      );
    },
  );

  app.post(
    `${base}/:datasetId/rows/delete`,
    {
      schema: {
        tags,
        summary: 'Delete many rows in one statement',
        params: datasetParams,
        body: z.object({ rowIds: z.array(rowIdStringSchema).min(1).max(1_000_000) }),
      },
    },
    async (request) =>
      sheets.deleteRows(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body.rowIds.map((id) => BigInt(id)),
      ),
  );

  app.patch(
    `${base}/:datasetId/cells`,
    {
      schema: {
        tags,
        summary:
          'Edit a cell if it is still at the version you saw (409 CONFLICT with the current value otherwise)',
        params: datasetParams,
        body: z.object({
          rowId: rowIdStringSchema,
          columnId: z.uuid(),
          expectedVersion: z.number().int().min(0),
          value: cellValueSchema.optional(),
          validated: z.boolean().optional(),
        }),
      },
    },
    async (request) => {
      const { rowId, columnId, expectedVersion, value, validated } = request.body;
      return sheets.editCell(request.actor, request.params.projectId, request.params.datasetId, {
        rowId: BigInt(rowId),
        columnId,
        expectedVersion,
        ...(value === undefined ? {} : { value }),
        ...(validated === undefined ? {} : { validated }),
      });
    },
  );

  app.patch(
    `${base}/:datasetId/cells/bulk`,
    {
      // 10,000 cells of ordinary text do not fit the default 1 MiB body limit.
      bodyLimit: Math.max(app.initialConfig.bodyLimit ?? 0, BULK_EDIT_BODY_BYTES),
      schema: {
        tags,
        summary: 'Edit many cells at once (a paste): one transaction, conflicts reported per cell',
        description:
          'Up to 10,000 cells `{ rowId, columnId, value, expectedVersion? }`. Each is cast to its ' +
          "column's type and compared with the version its writer saw (omitted: overwritten). " +
          'Cells still at that version are written and validated; stale ones come back in ' +
          '`conflicts` with their current value and version and are left as they are. An unknown ' +
          'row or column (404), a formula column, a value of the wrong type or a repeated cell ' +
          '(400) fails the request naming `cells.<index>.<field>`, and nothing is written.',
        params: datasetParams,
        body: bulkCellEditSchema,
      },
    },
    async (request) =>
      sheets.editCells(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body.cells,
      ),
  );

  app.post(
    `${base}/:datasetId/sql`,
    {
      config: { readOnly: true },
      schema: {
        tags,
        summary: 'Read-only SQL over this dataset (SELECT … FROM dataset)',
        params: datasetParams,
        body: z.object({ sql: z.string().min(1).max(100_000) }),
      },
    },
    async (request) =>
      sheets.runSql(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body.sql,
      ),
  );

  app.get(
    `${base}/:datasetId/export`,
    {
      schema: {
        tags,
        summary: 'Download the dataset (streamed)',
        description: `XLSX: Excel opens no cell longer than 32,767 characters, so a longer one is cut and ends with "…[truncated]" (within the limit); the \`${TRUNCATED_CELLS_HEADER}\` response header gives the number of cells cut (0 when none). The other formats keep every cell whole.`,
        params: datasetParams,
        querystring: z.object({
          format: z.enum(EXPORT_FORMATS).default('csv'),
          metadata: z.enum(['true', 'false']).default('false'),
        }),
      },
    },
    async (request, reply) => {
      const exported = await options.exports.exportDataset(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        { format: request.query.format, withMetadata: request.query.metadata === 'true' },
      );
      const stream = createReadStream(exported.path);
      stream.on('close', () => void rm(exported.path, { force: true }));
      // The file is complete before the response starts, so the count fits in a header.
      if (exported.format === 'xlsx')
        reply.header(TRUNCATED_CELLS_HEADER, String(exported.truncatedCells));
      reply.header('content-type', exported.contentType);
      reply.header('content-disposition', attachment(exported.datasetName, exported.format));
      return reply.send(stream);
    },
  );

  app.get(
    `${base}/:datasetId/events`,
    {
      schema: {
        tags,
        summary: 'Live changes (Server-Sent Events; resume with Last-Event-ID)',
        params: datasetParams,
      },
    },
    async (request, reply) => {
      await sheets.getDataset(request.actor, request.params.projectId, request.params.datasetId);
      streamToClient(request, reply, events, datasetStream(request.params.datasetId));
    },
  );

  // — imports —
  const importsBase = '/api/projects/:projectId/imports';

  app.post(
    importsBase,
    {
      schema: {
        tags,
        summary:
          'Upload a file to import (multipart, field "file"); previewed, started with ?start=true or /start',
        params: projectParams,
        querystring: z.object({
          start: z.enum(['true', 'false']).default('false'),
          name: nameSchema.optional(),
          format: importOptionsSchema.shape.format,
          sheet: z.string().max(200).optional(),
        }),
      },
    },
    async (request, reply) => {
      if (!request.isMultipart())
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          'Send the file as multipart/form-data (field "file")',
        );
      const part = await request.file();
      if (!part)
        throw validationError('No file in the request', [{ path: 'file', message: 'required' }]);
      const { name, format, sheet, start } = request.query;
      const result = await imports.createUpload(request.actor, request.params.projectId, {
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
      reply.status(201);
      return result;
    },
  );

  app.post(
    `${importsBase}/url`,
    {
      schema: {
        tags,
        summary: 'Import from an http(s) URL',
        params: projectParams,
        body: z.object({ url: importUrlSchema, options: importOptionsSchema.optional() }),
      },
    },
    async (request, reply) => {
      reply.status(202);
      return imports.createFromUrl(request.actor, request.params.projectId, {
        url: request.body.url,
        ...(request.body.options ? { options: request.body.options } : {}),
      });
    },
  );

  app.post(
    `${importsBase}/hub`,
    {
      schema: {
        tags,
        summary: 'Import a file of a Hugging Face Hub dataset',
        params: projectParams,
        body: hubSourceSchema.extend({
          revision: z.string().max(100).optional(),
          options: importOptionsSchema.optional(),
        }),
      },
    },
    async (request, reply) => {
      reply.status(202);
      const { repo, file, revision, options: importOptions } = request.body;
      return imports.createFromHub(request.actor, request.params.projectId, {
        repo,
        file,
        ...(revision ? { revision } : {}),
        ...(importOptions ? { options: importOptions } : {}),
      });
    },
  );

  app.get(
    `${importsBase}/:importId`,
    {
      schema: {
        tags,
        summary: 'An import: preview, progress, rejected lines, outcome',
        description:
          "After a successful import, `rejects` lists the first malformed lines (line, reason) and `conversions` the columns with cells that did not convert to their type: `[{ columnId, column, type, failed, failures: [{ rowId, raw }] }]` (first 100). Those cells are empty with status `error` and their source text in the cell state's `raw`.",
        params: importParams,
      },
    },
    async (request) =>
      imports.getImport(request.actor, request.params.projectId, request.params.importId),
  );

  app.post(
    `${importsBase}/:importId/preview`,
    {
      schema: {
        tags,
        summary: 'Preview an uploaded import again with options (dialect, header, nulls, formats)',
        description:
          'The options are kept for the start. `preview.dialect` is the CSV dialect the import will use; `preview.warnings` lists what the reader does differently (line ends normalized, NUL bytes removed, lines not UTF-8, Latin-1, first row read as data) and options that look wrong (`implausible-dialect`: one column from a first line with many delimiters).',
        params: importParams,
        body: importOptionsSchema.default({}),
      },
    },
    async (request) =>
      imports.previewImport(
        request.actor,
        request.params.projectId,
        request.params.importId,
        request.body,
      ),
  );

  app.post(
    `${importsBase}/:importId/start`,
    {
      schema: {
        tags,
        summary: 'Start an uploaded import (with type and dialect overrides)',
        params: importParams,
        body: importOptionsSchema.default({}),
      },
    },
    async (request, reply) => {
      reply.status(202);
      return imports.startImport(
        request.actor,
        request.params.projectId,
        request.params.importId,
        request.body,
      );
    },
  );

  app.post(
    `${importsBase}/:importId/cancel`,
    { schema: { tags, summary: 'Cancel an import', params: importParams } },
    async (request) =>
      imports.cancelImport(request.actor, request.params.projectId, request.params.importId),
  );

  app.get(
    `${importsBase}/:importId/events`,
    { schema: { tags, summary: 'Import progress (Server-Sent Events)', params: importParams } },
    async (request, reply) => {
      await imports.getImport(request.actor, request.params.projectId, request.params.importId);
      streamToClient(request, reply, events, importStream(request.params.importId));
    },
  );
};
