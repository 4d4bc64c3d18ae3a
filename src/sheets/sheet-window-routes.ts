import { z } from 'zod';
import { presentWindow } from './sheet-presenter.ts';
import {
  datasetParams,
  datasetsBase,
  inDataset,
  type SheetRoutesApp,
  type SheetRoutesOptions,
  tags,
} from './sheet-route-common.ts';
import { rowIdStringSchema, windowQuerySchema } from './sheet-schema.ts';

/** Paged reads: a window of rows by offset or keyset, or sorted, filtered and searched. */
export function windowRoutes(app: SheetRoutesApp, options: SheetRoutesOptions) {
  const { sheets } = options;
  const base = datasetsBase;

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
      return presentWindow(
        await sheets.readWindow(...inDataset(request), {
          ...(offset === undefined ? {} : { offset }),
          ...(limit === undefined ? {} : { limit }),
          ...(afterRowId === undefined ? {} : { afterRowId }),
          ...(search === undefined ? {} : { search }),
        }),
      );
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
    async (request) => presentWindow(await sheets.readWindow(...inDataset(request), request.body)),
  );
}
