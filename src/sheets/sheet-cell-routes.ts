import { z } from 'zod';
import { presentBulkEdit, presentEditedCell } from './sheet-presenter.ts';
import {
  datasetParams,
  datasetPath,
  inDataset,
  type SheetRoutesPart,
} from './sheet-route-common.ts';
import { bulkCellEditSchema, cellValueSchema, rowIdStringSchema } from './sheet-schema.ts';

/** The bulk cell edit's body limit (the global one when that is larger). */
const BULK_EDIT_BODY_BYTES = 8 * 1024 * 1024;

/** Row and cell routes: append and delete rows, edit a cell, edit many (a paste). */
export const cellRoutes: SheetRoutesPart = (route, { sheets }, app) => {
  route.post(
    `${datasetPath}/rows`,
    {
      summary: 'Append rows (values keyed by column id)',
      params: datasetParams,
      body: z.object({ rows: z.array(z.record(z.uuid(), cellValueSchema)).min(1).max(10_000) }),
      status: 201,
    },
    async (request) => sheets.appendRows(...inDataset(request), request.body.rows),
  );

  route.post(
    `${datasetPath}/rows/delete`,
    {
      summary: 'Delete many rows in one statement',
      params: datasetParams,
      body: z.object({ rowIds: z.array(rowIdStringSchema).min(1).max(1_000_000) }),
    },
    async (request) =>
      sheets.deleteRows(
        ...inDataset(request),
        request.body.rowIds.map((id) => BigInt(id)),
      ),
  );

  route.patch(
    `${datasetPath}/cells`,
    {
      summary:
        'Edit a cell if it is still at the version you saw (409 CONFLICT with the current value otherwise)',
      params: datasetParams,
      body: z.object({
        rowId: rowIdStringSchema,
        columnId: z.uuid(),
        expectedVersion: z.number().int().min(0),
        value: cellValueSchema.optional(),
        validated: z.boolean().optional(),
      }),
    },
    async (request) => {
      const { rowId, columnId, expectedVersion, value, validated } = request.body;
      return presentEditedCell(
        await sheets.editCell(...inDataset(request), {
          rowId: BigInt(rowId),
          columnId,
          expectedVersion,
          ...(value === undefined ? {} : { value }),
          ...(validated === undefined ? {} : { validated }),
        }),
      );
    },
  );

  route.patch(
    `${datasetPath}/cells/bulk`,
    {
      summary: 'Edit many cells at once (a paste): one transaction, conflicts reported per cell',
      description:
        'Up to 10,000 cells `{ rowId, columnId, value, expectedVersion? }`. Each is cast to its ' +
        "column's type and compared with the version its writer saw (omitted: overwritten). " +
        'Cells still at that version are written and validated; stale ones come back in ' +
        '`conflicts` with their current value and version and are left as they are. An unknown ' +
        'row or column (404), a formula column, a value of the wrong type or a repeated cell ' +
        '(400) fails the request naming `cells.<index>.<field>`, and nothing is written.',
      params: datasetParams,
      body: bulkCellEditSchema,
      // 10,000 cells of ordinary text do not fit the default 1 MiB body limit.
      bodyLimit: Math.max(app.initialConfig.bodyLimit ?? 0, BULK_EDIT_BODY_BYTES),
    },
    async (request) =>
      presentBulkEdit(await sheets.editCells(...inDataset(request), request.body.cells)),
  );
};
