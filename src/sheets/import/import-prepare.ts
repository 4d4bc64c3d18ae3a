import { rm } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { AppError, isAppError } from '../../platform/app-error.ts';
import { firstLine, type ImportContext } from './import-context.ts';
import {
  cleanJsonLines,
  expandsTooMuch,
  isJsonLines,
  jsonDocumentsToLines,
  type RejectedLine,
  xlsxToJsonLines,
} from './import-convert.ts';
import { randomImportPath, readHead } from './import-files.ts';
import { type ParsedImportOptions, stripUnset } from './import-options.ts';
import {
  describeCsvForRead,
  describeSource,
  parquetUncompressedBytes,
  readerFor,
  type SourceSpec,
  sampleRows,
  sniffCsv,
} from './import-reader.ts';
import { type ImportFormat, sniffFormat, type TextEncoding } from './import-sniff.ts';
import { cleanText, needsCleaning, scanText, textEncoding } from './import-text.ts';
import {
  dialectWarnings,
  type ImportWarning,
  oneColumnHeader,
  quoteWarnings,
  textWarnings,
} from './import-warnings.ts';

/** The most source columns an import reads (each makes a value and a state column). */
export const MAX_IMPORT_COLUMNS = 2_000;

/** The upload preview converts only this many rows of XLSX and JSON files. */
const PREVIEW_ROWS = 1_000;

/** A file made readable by DuckDB: its spec, what was rejected or noticed on the way. */
interface ConvertedSource {
  spec: SourceSpec;
  encoding: TextEncoding;
  preRejected?: { count: number; rejects: RejectedLine[] } | undefined;
  sheets?: string[] | undefined;
  layout?: 'lines' | 'documents' | undefined;
  warnings: ImportWarning[];
}

/**
 * Sniffing a file on disk and building what an import reads (upload, preview, the run): the
 * format's conversion (XLSX and JSON to JSON lines, a cleaned CSV copy), then DuckDB's view
 * of it (columns, dialect, sample rows).
 */
export function createImportPreparer(context: ImportContext) {
  const { duckdb, settings } = context;

  /**
   * Sniffs a file on disk and builds the preview shown before an import starts. The import
   * itself (`withPreview` false) needs only the columns: no dialect, no sample rows.
   */
  const prepare = async (
    file: string,
    size: number,
    displayName: string,
    options: ParsedImportOptions,
    signal?: AbortSignal,
    withPreview = true,
  ) => {
    const head = await readHead(file);
    const { format, encoding: headEncoding } = sniffFormat(head, size, displayName, options.format);
    const bom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
    const cleanup: string[] = [];
    // The import describes a CSV while its text is scanned: DuckDB's sniff (its thread) and our
    // scan (this one) each take a few hundred ms at 3M rows. Used only when the scan leaves the
    // spec as assumed (the same file, the encoding the head showed).
    const assumed =
      !withPreview && (format === 'csv' || format === 'tsv') && headEncoding !== 'utf-16'
        ? csvSpec(file, format, options.csv?.encoding ?? headEncoding, options)
        : undefined;
    const early = assumed
      ? duckdb
          .withConnection((connection) => describeCsvForRead(connection, assumed))
          .catch(() => undefined)
      : undefined;
    try {
      const converted = await convertSource(
        file,
        format,
        bom ? 'utf-8-bom' : headEncoding,
        options,
        cleanup,
        {
          maxBytes: settings.importMaxBytes,
          maxRows: withPreview ? PREVIEW_ROWS : undefined,
          signal,
        },
      );
      const described =
        early && JSON.stringify(converted.spec) === JSON.stringify(assumed) ? early : undefined;
      const read = await duckdb.withConnection((connection) =>
        readSource(connection, format, converted, options, withPreview, described),
      );
      return {
        format,
        encoding: read.spec.csv?.encoding ?? converted.encoding,
        spec: read.spec,
        preRejected: converted.preRejected,
        sheets: converted.sheets,
        layout: converted.layout,
        warnings: converted.warnings,
        cleanup,
        sources: read.sources,
        dialect: read.dialect,
        sample: read.sample,
      };
    } catch (error) {
      await early;
      // Every temp file this preparation made goes, whatever failed.
      for (const extra of cleanup) await rm(extra, { force: true }).catch(() => {});
      throw error;
    }
  };

  /** The format's conversion: what DuckDB will read, and the temp files made for it. */
  const convertSource = async (
    file: string,
    format: ImportFormat,
    headEncoding: TextEncoding | 'utf-8-bom',
    options: ParsedImportOptions,
    cleanup: string[],
    limits: { maxBytes: number; maxRows: number | undefined; signal: AbortSignal | undefined },
  ): Promise<ConvertedSource> => {
    const encoding: TextEncoding = headEncoding === 'utf-8-bom' ? 'utf-8' : headEncoding;
    if (format === 'xlsx') {
      const target = randomImportPath(context.dir(), '.jsonl');
      cleanup.push(target);
      const converted = await xlsxToJsonLines(
        file,
        target,
        options.sheet === undefined ? {} : { sheet: options.sheet },
        limits,
      );
      return {
        spec: { reader: 'jsonl', path: converted.path },
        encoding,
        sheets: converted.sheets,
        warnings: [],
      };
    }
    if (format === 'jsonl' || format === 'json') return jsonLines(file, encoding, cleanup, limits);
    if (format === 'csv' || format === 'tsv')
      return csvSource(file, format, headEncoding, options, cleanup, limits.signal);
    if (format === 'parquet') await checkParquetSize(file);
    return { spec: { reader: readerFor(format), path: file }, encoding, warnings: [] };
  };

  /** JSON lines or documents, copied as one object per line; lines that are no JSON rejected. */
  const jsonLines = async (
    file: string,
    encoding: TextEncoding,
    cleanup: string[],
    limits: { maxBytes: number; maxRows: number | undefined; signal: AbortSignal | undefined },
  ): Promise<ConvertedSource> => {
    const target = randomImportPath(context.dir(), '.jsonl');
    cleanup.push(target);
    const layout = (await isJsonLines(file)) ? 'lines' : 'documents';
    const cleaned =
      layout === 'lines'
        ? await cleanJsonLines(file, target, limits)
        : await jsonDocumentsToLines(file, target, limits);
    if (cleaned.lines === 0) {
      const first = cleaned.rejects[0];
      throw new AppError(
        'VALIDATION_ERROR',
        first
          ? `No JSON object in the file; line ${first.line}: ${first.reason}`
          : 'No JSON object in the file',
        {
          details: {
            issues: [{ path: 'file', message: 'no JSON objects' }],
            rejects: cleaned.rejects.slice(0, 20),
          },
        },
      );
    }
    return {
      spec: { reader: 'jsonl', path: cleaned.path },
      encoding,
      preRejected: { count: cleaned.rejected, rejects: cleaned.rejects },
      layout,
      warnings: [],
    };
  };

  /** A CSV or TSV: its encoding and quirks scanned, a cleaned copy when DuckDB needs one. */
  const csvSource = async (
    file: string,
    format: 'csv' | 'tsv',
    headEncoding: TextEncoding | 'utf-8-bom',
    options: ParsedImportOptions,
    cleanup: string[],
    signal: AbortSignal | undefined,
  ): Promise<ConvertedSource> => {
    let encoding: TextEncoding = headEncoding === 'utf-8-bom' ? 'utf-8' : headEncoding;
    const warnings: ImportWarning[] = [];
    let path = file;
    if (headEncoding !== 'utf-16') {
      const scan = await scanText(file, signal);
      if (!options.csv?.encoding && headEncoding !== 'utf-8-bom') encoding = textEncoding(scan);
      warnings.push(
        ...textWarnings(scan, options.csv?.encoding ?? encoding, !options.csv?.encoding),
      );
      if (needsCleaning(scan)) {
        path = randomImportPath(context.dir(), '.csv');
        cleanup.push(path);
        await cleanText(file, path, scan, settings.importMaxBytes, signal);
      }
    }
    return { spec: csvSpec(path, format, encoding, options), encoding, warnings };
  };

  /** DuckDB's view of the converted file: its columns and, for a preview, dialect and sample. */
  const readSource = async (
    connection: DuckDBConnection,
    format: ImportFormat,
    converted: ConvertedSource,
    options: ParsedImportOptions,
    withPreview: boolean,
    /** The import's describeCsvForRead of this spec, already under way (prepare). */
    described?: Promise<Awaited<ReturnType<typeof describeCsvForRead>>>,
  ) => {
    let spec = converted.spec;
    const warnings = converted.warnings;
    try {
      // The import itself reads a CSV as sniffed here, so the read does not sniff it again;
      // the preview keeps DuckDB's own describe.
      const sniffed = withPreview
        ? undefined
        : await (described ?? describeCsvForRead(connection, spec).catch(() => undefined));
      let sniffedRead = true;
      let sources = sniffed?.sources ?? (await describeSource(connection, spec));
      refuseExpansion(sources.length);
      // Nested JSON is read as JSON text: DuckDB's inferred structs would rewrite it
      // (timestamps, added nulls, 2 → 2.0).
      if (spec.reader === 'jsonl' && sources.some((column) => column.inferredType === 'json')) {
        spec = {
          ...spec,
          jsonColumns: Object.fromEntries(
            sources.map((column) => [
              column.sourceName,
              column.inferredType === 'json' ? 'JSON' : column.sqlType,
            ]),
          ),
        };
        sources = await describeSource(connection, spec);
      }
      if (spec.reader === 'csv' && options.csv?.header === undefined) {
        const header = await oneColumnHeader(connection, spec, sources);
        if (header === false) {
          // Read as described anew (sniffed by the read), not as first sniffed.
          sniffedRead = false;
          spec = { ...spec, csv: { ...spec.csv, header: false } };
          sources = await describeSource(connection, spec);
          warnings.push({
            code: 'first-row-is-data',
            message:
              'The first line looks like data, not a column name: it is read as a row (send csv.header = true to use it as the name)',
          });
        }
      }
      if (sniffed && sniffedRead)
        spec = { ...spec, csv: { ...spec.csv, sniffed: sniffed.spec.csv?.sniffed } };
      const dialect =
        withPreview && spec.reader === 'csv'
          ? await sniffCsv(connection, spec).catch(() => undefined)
          : undefined;
      if (dialect && spec.reader === 'csv') {
        warnings.push(...(await dialectWarnings(spec, sources, options.csv)));
        warnings.push(...(await quoteWarnings(spec, dialect)));
      }
      const sample = withPreview ? await sampleRows(connection, spec, 20, sources) : [];
      return { spec, sources, dialect, sample };
    } catch (error) {
      if (isAppError(error)) throw error;
      throw new AppError(
        'VALIDATION_ERROR',
        `The file could not be read as ${format}: ${firstLine(error)}`,
        { cause: error },
      );
    }
  };

  /**
   * A table may not be wider than MAX_IMPORT_COLUMNS source columns (each makes a value and
   * a state column). JSON objects whose keys differ from object to object do not widen it:
   * DuckDB reads keys found in under 10% of the objects as one JSON column.
   */
  const refuseExpansion = (columns: number) => {
    if (columns > MAX_IMPORT_COLUMNS)
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `The file has ${columns} columns; at most ${MAX_IMPORT_COLUMNS} can be imported`,
        { details: { columns, maxColumns: MAX_IMPORT_COLUMNS } },
      );
  };

  /**
   * Parquet is compressed: refuse one whose pages expand past the import limit (its own
   * metadata, read before any row) rather than write a table larger than the cap.
   */
  const checkParquetSize = async (file: string) => {
    const expanded = await duckdb
      .withConnection((connection) => parquetUncompressedBytes(connection, file))
      .catch((error: unknown) => {
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          `The file could not be read as Parquet: ${firstLine(error)}`,
          { cause: error },
        );
      });
    if (expanded > settings.importMaxBytes) throw expandsTooMuch(settings.importMaxBytes);
  };

  return { prepare };
}

export type PreparedImport = Awaited<
  ReturnType<ReturnType<typeof createImportPreparer>['prepare']>
>;

/** What DuckDB reads of a CSV or TSV: its path, encoding and the person's options. */
function csvSpec(
  path: string,
  format: 'csv' | 'tsv',
  encoding: TextEncoding,
  options: ParsedImportOptions,
): SourceSpec {
  const csv = options.csv ?? {};
  return {
    reader: 'csv',
    path,
    csv: {
      encoding: csv.encoding ?? encoding,
      ...(format === 'tsv' ? { delimiter: '\t' } : {}),
      ...stripUnset(csv),
    },
  };
}

/** The preview as stored on the import and shown to the user. */
export const presentPreview = (prepared: PreparedImport) => ({
  format: prepared.format,
  encoding: prepared.encoding,
  dialect: prepared.dialect ?? null,
  sheets: prepared.sheets ?? null,
  columns: prepared.sources.map((column) => ({
    source: column.sourceName,
    sqlType: column.sqlType,
    inferredType: column.inferredType,
  })),
  sample: prepared.sample,
  rejectedBeforeRead: prepared.preRejected?.count ?? 0,
  rejectsBeforeRead: prepared.preRejected?.rejects.slice(0, 20) ?? [],
  /** JSON: one object per line, or documents (pretty-printed, concatenated, an array). */
  layout: prepared.layout ?? null,
  /** What the reader will do differently from a plain read, and what looks wrong. */
  warnings: prepared.warnings,
});
