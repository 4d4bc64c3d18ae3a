import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { z } from 'zod';
import { streamToClient } from '../platform/http/sse.ts';
import { EXPORT_FORMATS } from './export/sheet-export.ts';
import { presentDataset } from './sheet-presenter.ts';
import {
  datasetParams,
  datasetPath,
  datasetsBase,
  inDataset,
  projectParams,
  type SheetRoutesPart,
} from './sheet-route-common.ts';
import { createDatasetSchema, nameSchema } from './sheet-schema.ts';
import { datasetStream } from './sheet-service.ts';

/** Content-Disposition for a user-named file: ASCII fallback plus RFC 6266/5987 UTF-8 name. */
export function attachment(name: string, extension: string): string {
  const base = name.replace(/[^\p{L}\p{N} ._-]/gu, '_').slice(0, 150) || 'dataset';
  const ascii = base.replace(/[^\x20-\x7e]/g, '_');
  return `attachment; filename="${ascii}.${extension}"; filename*=UTF-8''${encodeURIComponent(`${base}.${extension}`)}`;
}

/** XLSX exports: how many cells were cut to Excel's cell limit. */
export const TRUNCATED_CELLS_HEADER = 'x-braincells-truncated-cells';

/** Dataset routes: list, create, read, rename, copy, delete, restore, export, live events. */
export const datasetRoutes: SheetRoutesPart = (route, options) => {
  const { sheets } = options;
  route.get(
    datasetsBase,
    {
      summary: 'Datasets of a project',
      params: projectParams,
      query: z.object({ deleted: z.enum(['true', 'false']).optional() }),
    },
    async (request) => ({
      items: (
        await sheets.listDatasets(request.actor, request.params.projectId, {
          deleted: request.query.deleted === 'true',
        })
      ).map(presentDataset),
    }),
  );

  route.post(
    datasetsBase,
    {
      summary: 'Create an empty dataset',
      params: projectParams,
      body: createDatasetSchema,
      status: 201,
    },
    async (request) =>
      presentDataset(
        await sheets.createDataset(request.actor, request.params.projectId, request.body),
      ),
  );

  route.get(
    `${datasetPath}`,
    { summary: 'A dataset with its columns and row count', params: datasetParams },
    async (request) => presentDataset(await sheets.getDataset(...inDataset(request))),
  );

  route.patch(
    `${datasetPath}`,
    {
      params: datasetParams,
      summary: 'Rename a dataset',
      body: z.object({ name: nameSchema }),
    },
    async (request) =>
      presentDataset(await sheets.renameDataset(...inDataset(request), request.body.name)),
  );

  route.post(
    `${datasetPath}/duplicate`,
    {
      params: datasetParams,
      summary: "Copy a dataset (values, cell states, formulas, AI columns' processes; not runs)",
      body: z.object({ name: nameSchema.optional() }).default({}),
      status: 201,
    },
    async (request) =>
      presentDataset(await sheets.duplicateDataset(...inDataset(request), request.body.name)),
  );

  route.delete(
    `${datasetPath}`,
    {
      params: datasetParams,
      summary: 'Delete a dataset (restorable until purged)',
      description:
        'A dataset a workflow uses answers 409 with `details.usedBy` naming the workflows, unless `force=true` (the forced delete is audited).',
      query: z.object({ force: z.enum(['true', 'false']).optional() }),
      status: 204,
    },
    async (request) => {
      await sheets.deleteDataset(...inDataset(request), {
        force: request.query.force === 'true',
      });
    },
  );

  route.post(
    `${datasetPath}/restore`,
    { summary: 'Restore a deleted dataset', params: datasetParams },
    async (request) => presentDataset(await sheets.restoreDataset(...inDataset(request))),
  );

  route.get(
    `${datasetPath}/export`,
    {
      params: datasetParams,
      summary: 'Download the dataset (streamed)',
      description: `XLSX: Excel opens no cell longer than 32,767 characters, so a longer one is cut and ends with "…[truncated]" (within the limit); the \`${TRUNCATED_CELLS_HEADER}\` response header gives the number of cells cut (0 when none). The other formats keep every cell whole.`,
      query: z.object({
        format: z.enum(EXPORT_FORMATS).default('csv'),
        metadata: z.enum(['true', 'false']).default('false'),
      }),
    },
    async (request, reply) => {
      const exported = await options.exports.exportDataset(...inDataset(request), {
        format: request.query.format,
        withMetadata: request.query.metadata === 'true',
      });
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

  route.get(
    `${datasetPath}/events`,
    {
      params: datasetParams,
      summary: 'Live changes (Server-Sent Events; resume with Last-Event-ID)',
    },
    async (request, reply) => {
      await sheets.getDataset(...inDataset(request));
      streamToClient(request, reply, options.events, datasetStream(request.params.datasetId));
    },
  );
};
