import { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import { presentColumn, presentColumns } from './sheet-presenter.ts';
import {
  columnParams,
  datasetParams,
  datasetPath,
  inDataset,
  type SheetRoutesPart,
} from './sheet-route-common.ts';
import { columnTypeSchema, createColumnSchema, nameSchema } from './sheet-schema.ts';
import type { ColumnRow } from './sheet-store.ts';

/** Column routes: add, change, delete, copy, reorder. */
export const columnRoutes: SheetRoutesPart = (route, { sheets }) => {
  /** A formula is shown with the current names of the columns it reads. */
  const presentColumnOf = async (
    request: { actor: Actor; params: { projectId: string; datasetId: string } },
    column: ColumnRow,
  ) => {
    const { columns } = await sheets.requireDataset(...inDataset(request));
    return presentColumn(column, columns);
  };

  route.post(
    `${datasetPath}/columns`,
    {
      params: datasetParams,
      summary: 'Add a static or formula column',
      description:
        'A formula is a DuckDB expression over `{{Column Name}}` references. A row it fails on (a failed cast, malformed JSON) gets an empty value and status `error` with the message in the cell state; a NULL it returns is a value.',
      body: createColumnSchema,
      status: 201,
    },
    async (request) => {
      const column = await sheets.addColumn(...inDataset(request), request.body);
      return presentColumnOf(request, column);
    },
  );

  route.patch(
    `${datasetPath}/columns/:columnId`,
    {
      params: columnParams,
      summary:
        'Rename, retype (cast; failures reported per cell), hide or change the formula of a column',
      body: z.object({
        name: nameSchema.optional(),
        type: columnTypeSchema.optional(),
        hidden: z.boolean().optional(),
        formula: z.string().min(1).max(4_000).optional(),
      }),
    },
    async (request) => {
      const { name, type, hidden, formula } = request.body;
      const { column, columns, conversion } = await sheets.updateColumn(
        ...inDataset(request),
        request.params.columnId,
        {
          ...(name === undefined ? {} : { name }),
          ...(type === undefined ? {} : { type }),
          ...(hidden === undefined ? {} : { hidden }),
          ...(formula === undefined ? {} : { formula }),
        },
      );
      return {
        column: presentColumn(column, columns),
        ...(conversion ? { conversion } : {}),
      };
    },
  );

  route.delete(
    `${datasetPath}/columns/:columnId`,
    {
      params: columnParams,
      summary: 'Delete a column and its values',
      description:
        'Refused with 409 CONFLICT while formula columns use the column. While AI columns read it in their prompts, refused with 409 CONFLICT naming them (details.columnIds, details.canForce) unless force=true: then their runs stop, their generated cells turn stale and their prompts show {{deleted column}} until edited (runs are refused with 409 until then).',
      query: z.object({ force: z.enum(['true', 'false']).optional() }),
      status: 204,
    },
    async (request) => {
      await sheets.deleteColumn(...inDataset(request), request.params.columnId, {
        force: request.query.force === 'true',
      });
    },
  );

  route.post(
    `${datasetPath}/columns/:columnId/duplicate`,
    {
      params: columnParams,
      summary: 'Copy a column beside itself',
      description:
        "Named `<name> (copy)` (then `(copy 2)`, …) unless `name` is given. A static column's values are copied, a formula column's formula; an AI column stays an AI column with the same process (prompt, instructions, model, parameters, output type, search) and the source's values and cell states, as up to date as the source. Runs are not copied.",
      body: z.object({ name: nameSchema.optional() }).default({}),
      status: 201,
    },
    async (request) => {
      const column = await sheets.duplicateColumn(
        ...inDataset(request),
        request.params.columnId,
        request.body.name,
      );
      return presentColumnOf(request, column);
    },
  );

  route.put(
    `${datasetPath}/columns/order`,
    {
      params: datasetParams,
      summary: 'Reorder columns',
      body: z.object({ columnIds: z.array(z.uuid()).max(10_000) }),
    },
    async (request) => ({
      items: presentColumns(
        await sheets.reorderColumns(...inDataset(request), request.body.columnIds),
      ),
    }),
  );
};
