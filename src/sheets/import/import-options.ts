import { z } from 'zod';
import { validationError } from '../../platform/app-error.ts';
import type { Config } from '../../platform/config.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { SQL_TYPE_BY_COLUMN_TYPE } from '../sheet-cells.ts';
import {
  COLUMN_TYPES,
  type ColumnType,
  nameSchema,
  stripControlCharacters,
} from '../sheet-schema.ts';
import type { SourceColumn, TargetColumn } from './import-reader.ts';
import { IMPORT_FORMATS } from './import-sniff.ts';

// What an import is asked to do (options, a Hub source), the settings it runs under, the
// progress it reports, and the columns it makes: shared by every import use case.

export const IMPORT_JOB = 'sheets.import-file';

export const importOptionsSchema = z.object({
  name: nameSchema.optional(),
  format: z.enum(IMPORT_FORMATS).optional(),
  /** XLSX: sheet name or 1-based index. */
  sheet: z.union([z.string().min(1).max(200), z.number().int().min(1).max(10_000)]).optional(),
  csv: z
    .object({
      delimiter: z.string().min(1).max(4).optional(),
      quote: z.string().max(1).optional(),
      escape: z.string().max(1).optional(),
      header: z.boolean().optional(),
      encoding: z.enum(['utf-8', 'utf-16', 'latin-1']).optional(),
      /** Values read as NULL; default: only an empty unquoted field (`""` stays ''). */
      nullStrings: z.array(z.string().max(100)).max(20).optional(),
      /** Accept unescaped quotes inside quoted fields (`"the "big" one"`). */
      relaxedQuotes: z.boolean().optional(),
      decimalSeparator: z.enum(['.', ',']).optional(),
      /** null (as the preview shows it): none. */
      thousandsSeparator: z.enum([',', '.', ' ', "'", '_']).nullable().optional(),
      /**
       * strftime formats, e.g. %d/%m/%Y. null (as the preview shows it for ISO dates and
       * timestamps, or none found): DuckDB's own parser.
       */
      dateFormat: z.string().min(1).max(100).nullable().optional(),
      timestampFormat: z.string().min(1).max(100).nullable().optional(),
    })
    .optional(),
  /** This import fails when more than this share of its lines is malformed (default: the setting). */
  maxBadLineShare: z.number().min(0).max(1).optional(),
  /** Per source column: a type override, a new name, or leave it out. */
  columns: z
    .array(
      z.object({
        source: z.string().max(10_000),
        name: nameSchema.optional(),
        type: z.enum(COLUMN_TYPES).optional(),
        include: z.boolean().default(true),
      }),
    )
    .max(10_000)
    .optional(),
});
export type ImportOptions = z.input<typeof importOptionsSchema>;

export const hubSourceSchema = z.object({
  repo: z.string().regex(/^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/, 'must look like owner/name'),
  file: z
    .string()
    .min(1)
    .max(1_000)
    .refine(
      (file) => !file.split('/').some((part) => part === '..' || part === '.' || part === ''),
      'must be a path inside the repository',
    ),
  revision: z
    .string()
    .regex(/^[\w.-]{1,100}$/)
    .default('main'),
});

/** The import settings of `Config.sheets`, and where uploads are kept. */
export type ImportSettings = { dataDir: string } & Pick<
  Config['sheets'],
  | 'importMaxBytes'
  | 'importMaxBadLineShare'
  | 'importAllowPrivateUrls'
  | 'importUploadRetentionHours'
  | 'hfHubUrl'
  | 'hfToken'
>;

/** The options as parsed (defaults applied). */
export type ParsedImportOptions = z.output<typeof importOptionsSchema>;

export interface ImportProgressEvent {
  importId: string;
  phase: 'download' | 'prepare' | 'read' | 'finish';
  percentage: number;
  bytes: number;
  rows: number | null;
  rowsPerSecond: number | null;
  elapsedMs: number;
}

export const importStream = (importId: string) => `import:${importId}`;

const safeName = (name: string, index: number) => {
  const cleaned = stripControlCharacters(name).trim().slice(0, 200).trim();
  return cleaned === '' ? `Column ${index + 1}` : cleaned;
};

/** Source columns + overrides → target columns with unique, valid names. */
export function planColumns(
  sources: readonly SourceColumn[],
  overrides: ParsedImportOptions['columns'],
): (TargetColumn & { name: string })[] {
  const byName = new Map((overrides ?? []).map((override) => [override.source, override]));
  for (const override of overrides ?? []) {
    if (!sources.some((source) => source.sourceName === override.source)) {
      throw validationError(`No column ${override.source} in the file`, [
        { path: 'columns.source', message: 'unknown column' },
      ]);
    }
  }
  const used = new Set<string>();
  const planned: (TargetColumn & { name: string })[] = [];
  sources.forEach((source, index) => {
    const override = byName.get(source.sourceName);
    if (override && !override.include) return;
    let name = override?.name ?? safeName(source.sourceName, index);
    for (let n = 2; used.has(name.toLowerCase()); n++)
      name = `${safeName(source.sourceName, index).slice(0, 190)} ${n}`;
    used.add(name.toLowerCase());
    if (override?.type === 'image' && source.inferredType !== 'image')
      throw validationError(
        `${source.sourceName}: only a Parquet image struct {bytes, path} is imported as images`,
        [{ path: 'columns.type', message: 'not an image column' }],
      );
    planned.push({
      id: uuidv7(),
      sourceName: source.sourceName,
      name,
      type: override?.type ?? source.inferredType,
    });
  });
  return planned;
}

/** CSV columns the user gave a type: read with that type, so a value that does not fit rejects its line. */
export function readTypesFor(options: ParsedImportOptions): Record<string, string> {
  const readTypes: Record<string, string> = {};
  for (const override of options.columns ?? [])
    if (override.type && override.include) readTypes[override.source] = typeSql(override.type);
  return readTypes;
}

/** The DuckDB type a CSV column is read as: JSON and image-reference columns read their text. */
const typeSql = (type: ColumnType): string =>
  type === 'json' || type === 'image' ? 'VARCHAR' : SQL_TYPE_BY_COLUMN_TYPE[type];

/** The options without those left unset: undefined, or null (the preview's "none"). */
export function stripUnset<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], null> } {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined && entry !== null),
  ) as { [K in keyof T]?: Exclude<T[K], null> };
}
