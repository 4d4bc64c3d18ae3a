import { z } from 'zod';
import { routePlugin } from '../../platform/http/route-plugin.ts';
import { datasetParams, inDataset, tags } from '../sheet-route-common.ts';
import { createViewSchema, updateViewSchema } from './view-schema.ts';
import type { ViewService } from './view-service.ts';

const viewParams = datasetParams.extend({ viewId: z.uuid() });

/** Saved views HTTP API (docs/sheets.md "Saved views"): validate → service → JSON. */
export const viewRoutes = routePlugin<{ views: ViewService }>(tags, (route, { views }) => {
  const base = '/api/projects/:projectId/datasets/:datasetId/views';

  route.get(
    base,
    { summary: "A dataset's saved views", params: datasetParams },
    async (request) => ({
      items: await views.list(...inDataset(request)),
    }),
  );

  route.post(
    base,
    {
      summary: 'Save a view (filters, sort, search, hidden columns)',
      params: datasetParams,
      body: createViewSchema,
      status: 201,
    },
    async (request) => views.create(...inDataset(request), request.body),
  );

  route.patch(
    `${base}/:viewId`,
    {
      summary: 'Rename or update a saved view (compare-and-set on expectedVersion)',
      params: viewParams,
      body: updateViewSchema,
    },
    async (request) => views.update(...inDataset(request), request.params.viewId, request.body),
  );

  route.delete(
    `${base}/:viewId`,
    { summary: 'Delete a saved view', params: viewParams, status: 204 },
    async (request) => {
      await views.delete(...inDataset(request), request.params.viewId);
    },
  );
});
