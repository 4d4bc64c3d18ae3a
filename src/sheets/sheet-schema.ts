import { z } from 'zod';
import { jsonValueDepth } from '../platform/http/json-body.ts';
import { CELL_STATUSES, COLUMN_TYPES } from '../shared/api-types.ts';

// The lists clients enumerate too live in the shared wire types.
export {
  CELL_STATUSES,
  type CellStatus,
  COLUMN_KINDS,
  COLUMN_TYPES,
  type ColumnKind,
  type ColumnType,
} from '../shared/api-types.ts';

// C0/C1 control characters and the Unicode line/paragraph separators.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROL_CHARACTERS_ALL = new RegExp(CONTROL_CHARACTERS.source, 'g');

/** Replaces control characters (NUL included: PostgreSQL text cannot hold it). */
export function stripControlCharacters(text: string, replacement = ' '): string {
  return text.replace(CONTROL_CHARACTERS_ALL, replacement);
}

/** A user-visible name (dataset or column): trimmed, 1–200 characters, no control characters. */
export const nameSchema = z
  .string()
  .transform((value) => value.trim())
  .pipe(
    z
      .string()
      .min(1, 'must not be empty')
      .max(200, 'must be at most 200 characters')
      .refine((value) => !CONTROL_CHARACTERS.test(value), 'must not contain control characters'),
  );

export const columnTypeSchema = z.enum(COLUMN_TYPES);

/** How deep a JSON cell value may nest (arrays and objects). */
export const MAX_CELL_JSON_DEPTH = 32;

/** A cell value as JSON carries it; typed on write by the column's type. */
export const cellValueSchema = z
  .union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.record(z.string(), z.unknown()),
    z.array(z.unknown()),
  ])
  .refine(
    (value) => jsonValueDepth(value, MAX_CELL_JSON_DEPTH) <= MAX_CELL_JSON_DEPTH,
    `must nest at most ${MAX_CELL_JSON_DEPTH} levels`,
  );
export type CellValue = z.infer<typeof cellValueSchema>;

/** A row id in a body or a path: a positive integer (bigint), as a string. */
export const rowIdStringSchema = z.string().regex(/^[1-9]\d{0,17}$/, 'must be a row id');

/** A paste writes at most this many cells per request. */
export const MAX_BULK_CELLS = 10_000;

/** Bulk cell edit (a paste): each cell's value, and the version its writer saw if any. */
export const bulkCellEditSchema = z.object({
  cells: z
    .array(
      z.object({
        rowId: rowIdStringSchema,
        columnId: z.uuid(),
        value: cellValueSchema,
        /** Omit to overwrite whatever the cell holds (last writer wins). */
        expectedVersion: z.number().int().min(0).optional(),
      }),
    )
    .min(1)
    .max(MAX_BULK_CELLS),
});
export type BulkCellEdit = z.infer<typeof bulkCellEditSchema>;

export const MAX_FORMULA_LENGTH = 4_000;

export const createColumnSchema = z.object({
  name: nameSchema,
  type: columnTypeSchema.default('text'),
  /** Formula columns: a DuckDB expression over other columns written as {{Column Name}}. */
  formula: z.string().min(1).max(MAX_FORMULA_LENGTH).optional(),
  position: z.number().int().min(0).optional(),
});
export type CreateColumnInput = z.input<typeof createColumnSchema>;

export const createDatasetSchema = z.object({
  name: nameSchema,
  rows: z.number().int().min(0).max(100_000).default(0),
  columns: z
    .array(z.object({ name: nameSchema, type: columnTypeSchema.default('text') }))
    .max(1_000)
    .default([]),
});
export type CreateDatasetInput = z.input<typeof createDatasetSchema>;

export const filterSchema = z.discriminatedUnion('op', [
  z.object({ columnId: z.uuid(), op: z.literal('equals'), value: cellValueSchema }),
  z.object({ columnId: z.uuid(), op: z.literal('contains'), value: z.string().max(1_000) }),
  z.object({ columnId: z.uuid(), op: z.literal('empty') }),
  z.object({ columnId: z.uuid(), op: z.literal('not-empty') }),
  z.object({
    columnId: z.uuid(),
    op: z.literal('range'),
    min: z.union([z.number(), z.string().max(100)]).optional(),
    max: z.union([z.number(), z.string().max(100)]).optional(),
  }),
  z.object({
    columnId: z.uuid(),
    op: z.literal('status'),
    values: z.array(z.enum(CELL_STATUSES)).min(1),
  }),
]);
export type Filter = z.infer<typeof filterSchema>;

export const sortSchema = z.object({
  columnId: z.uuid(),
  direction: z.enum(['asc', 'desc']).default('asc'),
});
export type Sort = z.infer<typeof sortSchema>;

export const MAX_WINDOW = 1_000;

export const windowQuerySchema = z.object({
  offset: z.number().int().min(0).default(0),
  limit: z.number().int().min(1).max(MAX_WINDOW).default(100),
  /** Keyset paging in the default (row id) order: rows after this row id. */
  afterRowId: z
    .string()
    .regex(/^\d{1,18}$/)
    .optional(),
  sort: z.array(sortSchema).max(5).default([]),
  filters: z.array(filterSchema).max(20).default([]),
  search: z.string().max(1_000).optional(),
  /** Column ids to return (default: every visible column). */
  columns: z.array(z.uuid()).max(1_000).optional(),
});
export type WindowQuery = z.infer<typeof windowQuerySchema>;
