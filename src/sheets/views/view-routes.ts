import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { datasetParams, inDataset, tags } from '../sheet-route-common.ts';
import { createViewSchema, updateViewSchema } from './view-schema.ts';
import type { ViewService } from './view-service.ts';

const viewParams = datasetParams.extend({ viewId: z.uuid() });

/** Saved views HTTP API (docs/sheets.md "Saved views"): validate → service → JSON. */
export const viewRoutes: FastifyPluginAsyncZod<{ views: ViewService }> = async (app, options) => {
  const { views } = options;
  const base = '/api/projects/:projectId/datasets/:datasetId/views';

  app.get(
    base,
    { schema: { tags, summary: "A dataset's saved views", params: datasetParams } },
    async (request) => ({
      items: await views.list(...inDataset(request)),
    }),
  );

  app.post(
    base,
    {
      schema: {
        tags,
        summary: 'Save a view (filters, sort, search, hidden columns)',
        params: datasetParams,
        body: createViewSchema,
      },
    },
    async (request, reply) => {
      reply.status(201);
      return views.create(...inDataset(request), request.body);
    },
  );

  app.patch(
    `${base}/:viewId`,
    {
      schema: {
        tags,
        summary: 'Rename or update a saved view (compare-and-set on expectedVersion)',
        params: viewParams,
        body: updateViewSchema,
      },
    },
    async (request) => views.update(...inDataset(request), request.params.viewId, request.body),
  );

  app.delete(
    `${base}/:viewId`,
    { schema: { tags, summary: 'Delete a saved view', params: viewParams } },
    async (request, reply) => {
      await views.delete(...inDataset(request), request.params.viewId);
      return reply.status(204).send();
    },
  );
};
