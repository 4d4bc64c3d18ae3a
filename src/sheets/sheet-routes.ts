import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { importRoutes } from './import/sheet-import-routes.ts';
import { cellRoutes } from './sheet-cell-routes.ts';
import { columnRoutes } from './sheet-column-routes.ts';
import { datasetRoutes } from './sheet-dataset-routes.ts';
import { type SheetRoutesOptions, sheetRouteTable } from './sheet-route-common.ts';
import { windowRoutes } from './sheet-window-routes.ts';

export { TRUNCATED_CELLS_HEADER } from './sheet-dataset-routes.ts';
export type { SheetRoutesOptions } from './sheet-route-common.ts';

/**
 * Sheets HTTP API: validate → service → present. Every route needs a session or API key. The
 * routes of each use-case group live in a file named for it; this plugin registers them all.
 */
export const sheetRoutes: FastifyPluginAsyncZod<SheetRoutesOptions> = async (app, options) => {
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
  const route = sheetRouteTable(app);
  for (const part of [datasetRoutes, columnRoutes, cellRoutes, windowRoutes]) {
    part(route, options, app);
  }
  importRoutes(route, options);
};
