import { z } from 'zod';
import type { SqlResultView } from '../shared/api-types.ts';
import {
  datasetParams,
  datasetPath,
  inDataset,
  type SheetRoutesPart,
} from './sheet-route-common.ts';

/** Read-only SQL over one dataset; the result is column names and plain values. */
export const sqlRoutes: SheetRoutesPart = (route, { sheets }) => {
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
