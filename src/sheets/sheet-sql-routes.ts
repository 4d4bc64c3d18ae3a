import { z } from 'zod';
import type { SqlResultView } from '../shared/api-types.ts';
import {
  datasetParams,
  datasetsBase,
  inDataset,
  type SheetRoutesApp,
  type SheetRoutesOptions,
  tags,
} from './sheet-route-common.ts';

/** Read-only SQL over one dataset; the result is column names and plain values. */
export function sqlRoutes(app: SheetRoutesApp, options: SheetRoutesOptions) {
  const { sheets } = options;
  const base = datasetsBase;

  app.post(
    `${base}/:datasetId/sql`,
    {
      config: { readOnly: true },
      schema: {
        tags,
        summary: 'Read-only SQL over this dataset (SELECT … FROM dataset)',
        params: datasetParams,
        body: z.object({ sql: z.string().min(1).max(100_000) }),
      },
    },
    async (request): Promise<SqlResultView> =>
      sheets.runSql(...inDataset(request), request.body.sql),
  );
}
