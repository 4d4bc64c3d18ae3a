import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createViewSchema, updateViewSchema } from './view-schema.ts';
import type { ViewService } from './view-service.ts';

const datasetParams = z.object({ projectId: z.uuid(), datasetId: z.uuid() });
const viewParams = datasetParams.extend({ viewId: z.uuid() });

/** Saved views HTTP API (docs/sheets.md "Saved views"): validate → service → JSON. */
export const viewRoutes: FastifyPluginAsyncZod<{ views: ViewService }> = async (app, options) => {
  const { views } = options;
  const tags = ['sheets'];
  const base = '/api/projects/:projectId/datasets/:datasetId/views';

  app.get(
    base,
    { schema: { tags, summary: "A dataset's saved views", params: datasetParams } },
    async (request) => ({
      items: await views.list(request.actor, request.params.projectId, request.params.datasetId),
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
      return views.create(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body,
      );
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
    async (request) =>
      views.update(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.params.viewId,
        request.body,
      ),
  );

  app.delete(
    `${base}/:viewId`,
    { schema: { tags, summary: 'Delete a saved view', params: viewParams } },
    async (request, reply) => {
      await views.delete(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.params.viewId,
      );
      return reply.status(204).send();
    },
  );
};
