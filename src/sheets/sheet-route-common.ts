import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import type { EventBus } from '../platform/events.ts';
import { type RouteTable, routeTable } from '../platform/http/route-definition.ts';
import type { SheetExportService } from './export/sheet-export-service.ts';
import type { SheetImportService } from './import/sheet-import-service.ts';
import type { SheetService } from './sheet-service.ts';

/** What the sheets routes (datasets, columns, cells, windows, SQL, imports) share. */
export interface SheetRoutesOptions {
  sheets: SheetService;
  imports: SheetImportService;
  /** Downloads (an audited use case). */
  exports: SheetExportService;
  events: EventBus;
  duckdb: DuckDb;
  dataDir: string;
  importMaxBytes: number;
}

/** The Fastify instance the sheets plugin registers its parts on (zod type provider). */
export type SheetRoutesApp = Parameters<FastifyPluginAsyncZod<SheetRoutesOptions>>[0];

/**
 * One part of the sheets routes (datasets, columns, cells, windows, SQL), registered on the
 * plugin's route table (tag `sheets`).
 */
export type SheetRoutesPart = (
  route: RouteTable,
  options: SheetRoutesOptions,
  app: SheetRoutesApp,
) => void;

export const tags = ['sheets'];
export const datasetsBase = '/api/projects/:projectId/datasets';
/** One dataset's path; its routes add their part (`${datasetPath}/rows`). */
export const datasetPath = `${datasetsBase}/:datasetId`;
export const projectParams = z.object({ projectId: z.uuid() });
export const datasetParams = projectParams.extend({ datasetId: z.uuid() });
export const columnParams = datasetParams.extend({ columnId: z.uuid() });
export const runParams = datasetParams.extend({ runId: z.uuid() });

/** The routes of one part, under the sheets tag (`routeTable`). */
export const sheetRouteTable = (app: SheetRoutesApp) => routeTable(app, tags);

/**
 * The actor, project and dataset of a request under a dataset's path: the first arguments of
 * every dataset use case (`sheets.appendRows(...inDataset(request), rows)`).
 */
export const inDataset = (request: {
  actor: Actor;
  params: { projectId: string; datasetId: string };
}) => [request.actor, request.params.projectId, request.params.datasetId] as const;
