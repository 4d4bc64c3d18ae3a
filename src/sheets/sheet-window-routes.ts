import { z } from 'zod';
import type { SqlResultView } from '../shared/api-types.ts';
import { presentWindow } from './sheet-presenter.ts';
import {
  datasetParams,
  datasetPath,
  inDataset,
  type SheetRoutesPart,
} from './sheet-route-common.ts';
import { rowIdStringSchema, windowQuerySchema } from './sheet-schema.ts';

/**
 * Reads: a window of rows by offset or keyset, or sorted, filtered and searched; and read-only
 * SQL over the dataset (column names and plain values).
 */
export const windowRoutes: SheetRoutesPart = (route, { sheets }) => {
  route.get(
    `${datasetPath}/rows`,
    {
      summary: 'A window of rows (offset/limit, or keyset after a row id)',
      params: datasetParams,
      query: z.object({
        offset: z.coerce.number().int().min(0).optional(),
        limit: z.coerce.number().int().min(1).max(1_000).optional(),
        afterRowId: rowIdStringSchema.optional(),
        search: z.string().max(1_000).optional(),
      }),
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

  route.post(
    `${datasetPath}/rows/query`,
    {
      summary: 'A window of rows, sorted and filtered',
      config: { readOnly: true },
      params: datasetParams,
      body: windowQuerySchema,
    },
    async (request) => presentWindow(await sheets.readWindow(...inDataset(request), request.body)),
  );

  route.post(
    `${datasetPath}/sql`,
    {
      summary: 'Read-only SQL over this dataset (SELECT … FROM dataset)',
      config: { readOnly: true },
      params: datasetParams,
      body: z.object({ sql: z.string().min(1).max(100_000) }),
    },
    async (request): Promise<SqlResultView> =>
      sheets.runSql(...inDataset(request), request.body.sql),
  );
};
