import { z } from 'zod';
import type { SqlResultView } from '../shared/api-types.ts';
import {
  datasetPath,
  inDataset,
  inDatasetSchema,
  type SheetRoutesPart,
} from './sheet-route-common.ts';

/** Read-only SQL over one dataset; the result is column names and plain values. */
export const sqlRoutes: SheetRoutesPart = (app, { sheets }) => {
  app.post(
    `${datasetPath}/sql`,
    {
      config: { readOnly: true },
      schema: {
        ...inDatasetSchema,
        summary: 'Read-only SQL over this dataset (SELECT … FROM dataset)',
        body: z.object({ sql: z.string().min(1).max(100_000) }),
      },
    },
    async (request): Promise<SqlResultView> =>
      sheets.runSql(...inDataset(request), request.body.sql),
  );
};
