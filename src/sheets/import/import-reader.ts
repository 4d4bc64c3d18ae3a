import { stat } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { AppError } from '../../platform/app-error.ts';
import {
  CELL_STATE_SQL_TYPE,
  columnTypeForSqlType,
  conversionError,
  errorStateSql,
  SQL_TYPE_BY_COLUMN_TYPE,
} from '../sheet-cells.ts';
import type { TypeChangeResult } from '../sheet-data-store.ts';
import { datasetTable, stateColumn, valueColumn } from '../sheet-query.ts';
import type { ColumnType } from '../sheet-schema.ts';
import type { RejectedLine } from './import-convert.ts';
import type { ImportFormat, TextEncoding } from './import-sniff.ts';
import { linesAtOffsets } from './import-text.ts';

/** How DuckDB should read one prepared file (after any conversion in import-convert.ts). */
export interface SourceSpec {
  /** csv (any delimiter) | json lines | json array | parquet. XLSX arrives here as jsonl. */
  reader: 'csv' | 'jsonl' | 'json' | 'parquet';
  path: string;
  csv?: {
    delimiter?: string | undefined;
    quote?: string | undefined;
    escape?: string | undefined;
    header?: boolean | undefined;
    encoding?: TextEncoding | undefined;
    /** Values read as NULL (default: the empty unquoted field only; `""` stays ''). */
    nullStrings?: string[] | undefined;
    /** Accept unescaped quotes inside quoted fields (DuckDB's strict_mode = false). */
    relaxedQuotes?: boolean | undefined;
    decimalSeparator?: '.' | ',' | undefined;
    thousandsSeparator?: string | undefined;
    dateFormat?: string | undefined;
    timestampFormat?: string | undefined;
    /**
     * The dialect and column types DuckDB's sniffer found when the import described the file
     * (describeCsvForRead): the read then passes them with `auto_detect = false` instead of
     * sniffing the file a second time.
     */
    sniffed?: SniffedRead | undefined;
  };
  /** JSONL: every column's type, nested ones as JSON (kept as their text). */
  jsonColumns?: Record<string, string>;
  /** Source column name → DuckDB type to read it as (CSV only: failures become rejects). */
  readTypes?: Record<string, string>;
}

export interface SourceColumn {
  sourceName: string;
  sqlType: string;
  inferredType: ColumnType;
}

export interface TargetColumn {
  id: string;
  sourceName: string;
  type: ColumnType;
}

// A 10 MB cell is a valid cell; lines up to 16 MiB are read (DuckDB's default is 2 MB). The
// read buffer is left to DuckDB: set to twice the line size (32 MiB, until 2026-12-06) it
// turned off DuckDB's optimistic writes, so a whole read kept every row in memory until the
// checkpoint after the import compressed and wrote them — a second pass over the data
// (3M rows: seconds of CPU and +500 MiB). Left unset, rows go to disk while they are read.
const MAX_LINE_BYTES = 16 * 1024 * 1024;

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
const quoteName = (name: string) => `"${name.replaceAll('"', '""')}"`;

export function readerFor(format: ImportFormat): SourceSpec['reader'] {
  if (format === 'csv' || format === 'tsv') return 'csv';
  if (format === 'xlsx' || format === 'jsonl') return 'jsonl';
  return format;
}

/** read_csv options common to every read of one CSV: sizes, error skipping, user overrides. */
function csvOptions(spec: SourceSpec): string[] {
  const options = [`max_line_size = ${MAX_LINE_BYTES}`, 'ignore_errors = true'];
  const csv = spec.csv ?? {};
  if (csv.delimiter !== undefined) options.push(`delim = ${literal(csv.delimiter)}`);
  if (csv.quote !== undefined) options.push(`quote = ${literal(csv.quote)}`);
  if (csv.escape !== undefined) options.push(`escape = ${literal(csv.escape)}`);
  if (csv.header !== undefined) options.push(`header = ${csv.header}`);
  if (csv.encoding !== undefined) options.push(`encoding = ${literal(csv.encoding)}`);
  options.push(...dialectOptions(spec));
  return options;
}

/** The options a person sets beyond the dialect: nulls, quoting, number and date formats. */
function dialectOptions(spec: SourceSpec): string[] {
  const csv = spec.csv ?? {};
  // A quoted empty string is an empty string, not NULL.
  const options = ['allow_quoted_nulls = false'];
  if (csv.nullStrings !== undefined)
    options.push(`nullstr = [${csv.nullStrings.map(literal).join(', ')}]`);
  if (csv.relaxedQuotes) options.push('strict_mode = false');
  if (csv.decimalSeparator !== undefined)
    options.push(`decimal_separator = ${literal(csv.decimalSeparator)}`);
  if (csv.thousandsSeparator !== undefined)
    options.push(`thousands = ${literal(csv.thousandsSeparator)}`);
  if (csv.dateFormat !== undefined) options.push(`dateformat = ${literal(csv.dateFormat)}`);
  if (csv.timestampFormat !== undefined)
    options.push(`timestampformat = ${literal(csv.timestampFormat)}`);
  return options;
}

const rejectOptions = (rejects: { table: string; scan: string }) => [
  'store_rejects = true',
  `rejects_table = ${literal(rejects.table)}`,
  `rejects_scan = ${literal(rejects.scan)}`,
];

/** A CSV's dialect and column types as sniffed once, to read it again without sniffing. */
export interface SniffedRead {
  delimiter: string;
  quote: string;
  escape: string;
  header: boolean;
  skip: number;
  dateFormat: string | null;
  timestampFormat: string | null;
  /** Source column name → DuckDB type, in file order. */
  columns: [string, string][];
}

/**
 * csvOptions without the dialect (delimiter, quote, escape, header, formats), for a read that
 * passes the sniffed dialect instead.
 */
const optionsWithoutDialect = (spec: SourceSpec): string[] =>
  csvOptions({
    ...spec,
    csv: {
      ...spec.csv,
      delimiter: undefined,
      quote: undefined,
      escape: undefined,
      header: undefined,
      dateFormat: undefined,
      timestampFormat: undefined,
    },
  });

/** read_csv options that read a CSV as sniffed (sniffedRead), with the person's own options. */
function sniffedOptions(spec: SourceSpec, sniffed: SniffedRead): string[] {
  const types = new Map(sniffed.columns);
  for (const [name, type] of Object.entries(spec.readTypes ?? {}))
    if (types.has(name)) types.set(name, type);
  return [
    // Sizes, error skipping, encoding and the person's options; the dialect is the one sniffed
    // (the person's delimiter, quote, escape, header and formats went into the sniff).
    ...optionsWithoutDialect(spec),
    'auto_detect = false',
    `delim = ${literal(sniffed.delimiter)}`,
    `quote = ${literal(sniffed.quote)}`,
    `escape = ${literal(sniffed.escape)}`,
    `header = ${sniffed.header}`,
    `skip = ${sniffed.skip}`,
    ...(sniffed.dateFormat ? [`dateformat = ${literal(sniffed.dateFormat)}`] : []),
    ...(sniffed.timestampFormat ? [`timestampformat = ${literal(sniffed.timestampFormat)}`] : []),
    `columns = {${[...types].map(([name, type]) => `${literal(name)}: ${literal(type)}`).join(', ')}}`,
  ];
}

/** The FROM expression; every option is a literal we produced (paths are our random names). */
export function sourceSql(spec: SourceSpec, rejects?: { table: string; scan: string }): string {
  switch (spec.reader) {
    case 'csv': {
      const sniffed = spec.csv?.sniffed;
      if (sniffed) {
        const options = sniffedOptions(spec, sniffed);
        if (rejects) options.push(...rejectOptions(rejects));
        return `read_csv(${literal(spec.path)}, ${options.join(', ')})`;
      }
      const options = csvOptions(spec);
      if (rejects) options.push(...rejectOptions(rejects));
      const types = Object.entries(spec.readTypes ?? {});
      if (types.length > 0)
        options.push(
          `types = {${types.map(([name, type]) => `${literal(name)}: ${literal(type)}`).join(', ')}}`,
        );
      return `read_csv(${literal(spec.path)}, ${options.join(', ')})`;
    }
    case 'jsonl': {
      const columns = Object.entries(spec.jsonColumns ?? {});
      const typed = columns.length
        ? `, columns = {${columns.map(([name, type]) => `${literal(name)}: ${literal(type)}`).join(', ')}}`
        : '';
      return `read_json(${literal(spec.path)}, format = 'newline_delimited', maximum_object_size = ${MAX_LINE_BYTES}, sample_size = -1${typed})`;
    }
    case 'json':
      return `read_json(${literal(spec.path)}, format = 'array', maximum_object_size = ${MAX_LINE_BYTES}, sample_size = -1)`;
    case 'parquet':
      return `read_parquet(${literal(spec.path)})`;
  }
}

export async function describeSource(
  connection: DuckDBConnection,
  spec: SourceSpec,
): Promise<SourceColumn[]> {
  const reader = await connection.runAndReadAll(`describe select * from ${sourceSql(spec)}`);
  return (reader.getRowObjectsJS() as { column_name: string; column_type: string }[]).map(
    (row) => ({
      sourceName: row.column_name,
      sqlType: row.column_type,
      inferredType: columnTypeForSqlType(row.column_type),
    }),
  );
}

/**
 * The date format a read passes for a sniffed one: none for ISO dates (`%Y-%m-%d`), which
 * DuckDB's default date cast reads — as its own auto-detected read does: passed explicitly,
 * every date goes through strptime (3M rows: ~0.1 s more CPU in a perf profile, and dates such
 * as `2024/03/05` the auto-detected read takes become rejected lines).
 */
const sniffedDateFormat = (format: string | null) => (format === '%Y-%m-%d' ? null : format);

/**
 * The date and timestamp formats a read of this CSV passes: the person's own, else the ones
 * sniffed (an ISO date: none). One function for the import's reads and the preview's dialect,
 * so the preview shows what the import reads with (#14 item 14).
 */
const readFormats = (
  spec: SourceSpec,
  sniffed: Pick<SniffedDialect, 'date_format' | 'timestamp_format'>,
) => ({
  dateFormat: spec.csv?.dateFormat ?? sniffedDateFormat(sniffed.date_format),
  timestampFormat: spec.csv?.timestampFormat ?? sniffed.timestamp_format,
});

/**
 * A CSV described by one run of DuckDB's sniffer (`sniff_csv`, the same sniffer the read runs
 * when it binds), kept in the spec so the read does not sniff the file again (~0.2–0.3 s of
 * CPU on one thread at 3M rows). Undefined for a dialect the read would not reproduce exactly
 * from these options (comment lines, carriage-return-only lines): then describeSource, and the
 * read sniffs as before.
 */
export async function describeCsvForRead(
  connection: DuckDBConnection,
  spec: SourceSpec,
): Promise<{ spec: SourceSpec; sources: SourceColumn[] } | undefined> {
  if (spec.reader !== 'csv' || spec.csv?.sniffed) return undefined;
  const row = await sniffDialect(connection, spec.path, csvOptions(spec));
  if (!row) return undefined;
  const given = (text: string | null) => (!text || text === '(empty)' ? '' : text);
  if (given(row.comment)) return undefined;
  if (!['\\n', '\\r\\n'].includes(row.new_line)) return undefined;
  const sniffed: SniffedRead = {
    delimiter: row.delimiter,
    quote: given(row.quote),
    escape: given(row.escape),
    header: Boolean(row.header),
    skip: Number(row.skip),
    ...readFormats(spec, row),
    columns: row.columns.map((column) => [column.name, column.type]),
  };
  return {
    spec: { ...spec, csv: { ...spec.csv, sniffed } },
    sources: sniffed.columns.map(([name, type]) => ({
      sourceName: name,
      sqlType: type,
      inferredType: columnTypeForSqlType(type),
    })),
  };
}

/** What DuckDB's CSV sniffer finds in a file. */
interface SniffedDialect {
  delimiter: string;
  quote: string | null;
  escape: string | null;
  new_line: string;
  comment: string | null;
  skip: bigint | number;
  header: boolean;
  columns: { name: string; type: string }[];
  date_format: string | null;
  timestamp_format: string | null;
}

/** Runs DuckDB's CSV sniffer with these read_csv options. */
async function sniffDialect(
  connection: DuckDBConnection,
  file: string,
  options: readonly string[],
): Promise<SniffedDialect | undefined> {
  const reader = await connection.runAndReadAll(
    `select "Delimiter" as delimiter, "Quote" as quote, "Escape" as escape, "NewLineDelimiter" as new_line, "Comment" as comment, "SkipRows" as skip, "HasHeader" as header, "Columns" as columns, "DateFormat" as date_format, "TimestampFormat" as timestamp_format from sniff_csv(${literal(file)}, ${options.join(', ')})`,
  );
  return reader.getRowObjectsJS()[0] as SniffedDialect | undefined;
}

/** What a Parquet file's pages hold uncompressed (bytes), from its own metadata: no row is read. */
export async function parquetUncompressedBytes(
  connection: DuckDBConnection,
  file: string,
): Promise<number> {
  const reader = await connection.runAndReadAll(
    `select coalesce(sum(total_uncompressed_size), 0)::bigint as n from parquet_metadata(${literal(file)})`,
  );
  return Number((reader.getRowObjectsJS()[0] as { n: bigint }).n);
}

/**
 * The CSV dialect the import reads with — DuckDB's sniffer run with every option the import
 * passes, and the formats the read passes (readFormats) — shown so the user can override it.
 * Sent back as the import's `csv` options, it reads the same table.
 */
export async function sniffCsv(connection: DuckDBConnection, spec: SourceSpec) {
  const csv = spec.csv ?? {};
  // Every option the import passes, so the dialect shown is the one the import reads with.
  const options = csvOptions(spec);
  const row = await sniffDialect(connection, spec.path, options);
  const given = (text: string | null) => (!text || text === '(empty)' ? '' : text);
  return row
    ? {
        delimiter: row.delimiter,
        quote: given(row.quote),
        escape: given(row.escape),
        header: row.header,
        encoding: csv.encoding ?? 'utf-8',
        newLine: row.new_line,
        ...readFormats(spec, row),
        relaxedQuotes: Boolean(csv.relaxedQuotes),
        nullStrings: csv.nullStrings ?? [''],
        decimalSeparator: csv.decimalSeparator ?? '.',
        thousandsSeparator: csv.thousandsSeparator ?? null,
      }
    : undefined;
}

export async function sampleRows(
  connection: DuckDBConnection,
  spec: SourceSpec,
  limit = 20,
  sources: readonly SourceColumn[] = [],
) {
  // An image struct previews as its path: its bytes have no place in a preview.
  const images = sources.filter((column) => column.inferredType === 'image');
  const list = images.length
    ? `* replace (${images.map((column) => `${quoteName(column.sourceName)}.path as ${quoteName(column.sourceName)}`).join(', ')})`
    : '*';
  const reader = await connection.runAndReadAll(
    `select ${list} from ${sourceSql(spec)} limit ${limit}`,
  );
  return reader.getRowObjectsJson() as Record<string, unknown>[];
}

/**
 * The value and state of one target column. A cast that can fail (an override or inferred
 * type the source does not have) keeps the value NULL and marks the cell like a column type
 * change does (sheet-data-store.ts `changeColumnType`): status `error`, the source text in
 * `raw`. Text and JSON targets always convert.
 */
function columnExpressions(
  column: TargetColumn,
  source: SourceColumn | undefined,
): { value: string; state: string; converts: boolean } {
  const name = quoteName(column.sourceName);
  const target = SQL_TYPE_BY_COLUMN_TYPE[column.type];
  const empty = `null::${CELL_STATE_SQL_TYPE}`;
  // Image structs are stored through the image checks after the read (import-run.ts).
  if (column.type === 'image') return { value: 'null::json', state: empty, converts: false };
  if (source && source.sqlType.toUpperCase() === target)
    return { value: name, state: empty, converts: false };
  if (column.type === 'json') return { value: `to_json(${name})`, state: empty, converts: false };
  if (column.type === 'text')
    return { value: `cast(${name} as varchar)`, state: empty, converts: false };
  const value = `try_cast(${name} as ${target})`;
  const nested = source && columnTypeForSqlType(source.sqlType) === 'json';
  const raw = nested ? `cast(to_json(${name}) as varchar)` : `cast(${name} as varchar)`;
  const error = literal(conversionError(column.type));
  return {
    value,
    state: `case when ${name} is not null and ${value} is null then ${errorStateSql('null::json', error, raw)} end`,
    converts: true,
  };
}

/** Cells of one column an import could not convert to its type, reported like a type change. */
export interface ImportConversion extends TypeChangeResult {
  columnId: string;
}

const CONVERSIONS_KEPT = 100;

export interface ImportProgress {
  /** 0–100 (DuckDB's own estimate), or -1 when unknown. */
  percentage: number;
  elapsedMs: number;
}

export interface ImportOutcome {
  rows: number;
  rejected: number;
  rejects: RejectedLine[];
  /** Source columns read as text after their inferred type failed on some lines. */
  widened: string[];
  /** Columns with cells that did not convert to the column's type (none: empty). */
  conversions: ImportConversion[];
  /** Read whole in parallel and numbered after the read, in file order (importNumberedAfter). */
  numberedAfter: boolean;
}

/**
 * Ends a connection's transaction after a failed or cancelled read, so the pooled connection is
 * never handed on with an aborted transaction. A cancel interrupts the read's connection; one
 * that was between statements can have its rollback interrupted instead, so a
 * rollback that fails is tried once more (a second failure means there was no transaction).
 */
async function rollbackAfterFailure(connection: DuckDBConnection): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await connection.run('rollback');
      return;
    } catch {
      // interrupted, or no transaction is open
    }
  }
}

export interface ImportOptions {
  datasetId: string;
  spec: SourceSpec;
  sources: readonly SourceColumn[];
  targets: readonly TargetColumn[];
  maxBadShare: number;
  /** Lines already rejected before DuckDB read the file (JSONL checks). */
  preRejected?: { count: number; rejects: RejectedLine[] };
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: ImportProgress) => void) | undefined;
  /** Creates the id sequence after `lastRowId`, in the read's transaction (the index comes later). */
  finish: (connection: DuckDBConnection, lastRowId: number) => Promise<void>;
  /** Smallest CSV read whole that is read in parallel and numbered after (NUMBERED_AFTER_MIN_BYTES). */
  numberedAfterMinBytes?: number | undefined;
}

/**
 * A CSV of at least this size is read by DuckDB on all its threads and its rows numbered after
 * the read (importNumberedAfter). Smaller files keep the one-statement read: one thread reads
 * them in well under a second, and their quirks are tested on that path. Until 2026-12-07 a
 * CSV of 16–128 MiB was cut into one part per thread, each read numbering its rows: at 1M rows
 * that cost ~1.3–1.5× the CPU of this path (the copy, and a row_number() per part), see
 * docs/decisions/2026-12-07-imports-no-parts.md.
 */
export const NUMBERED_AFTER_MIN_BYTES = 16 * 1024 * 1024;
const REJECTS_KEPT = 100;

/**
 * Creates the dataset's table from the source: `_row_id` in file order, one value and one
 * state column per target column. Malformed CSV lines are skipped and collected (line number
 * and reason); if more than `maxBadShare` of the lines are bad, nothing is written. `signal`
 * interrupts the running statements.
 *
 * Numbering rows in file order while reading (`row_number() over ()`) makes DuckDB read a file
 * on one thread: a CSV from NUMBERED_AFTER_MIN_BYTES is read on every thread and numbered after
 * the read (importNumberedAfter); anything else is read whole in one transaction
 * (importWhole). Measured alternatives (2026-11): staging through Parquet and numbering by
 * `file_row_number` (memory grows with the file), adding the id by ALTER … DEFAULT nextval
 * (out of order), one statement over a UNION ALL of parts (DuckDB runs the branches one by
 * one), parts into staging tables then one copy (the copy costs what the parts gain); the file
 * cut into parts read at once, each numbering its rows (until 2026-12-07: more CPU than the
 * read numbered after at 1M rows, twice its CPU at 3M).
 */
export async function importIntoTable(
  connection: DuckDBConnection,
  options: ImportOptions,
): Promise<ImportOutcome> {
  // Cancelled before it began (while the source was described): nothing to interrupt later.
  if (options.signal?.aborted) throw options.signal.reason;
  const started = Date.now();
  const onAbort = () => connection.interrupt();
  options.signal?.addEventListener('abort', onAbort);
  // The read's best estimate so far: a statement that has finished reports nothing (-1) again.
  let seen = -1;
  const timer = setInterval(() => {
    seen = Math.max(seen, connection.progress.percentage);
    options.onProgress?.({ percentage: seen, elapsedMs: Date.now() - started });
  }, 250);
  timer.unref();
  try {
    return (await numbersAfter(options))
      ? await importNumberedAfter(connection, options)
      : await importWhole(connection, options);
  } catch (error) {
    // Once cancelled, whatever a statement then failed with (interrupted, or a transaction the
    // interrupt aborted) is the cancel.
    if (options.signal?.aborted) throw options.signal.reason;
    throw error;
  } finally {
    clearInterval(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The expressions of every target column, and the SELECT list they make after `_row_id`.
 * With `statesAfter`, a state column that is NULL on every row (a column that always converts)
 * is left out of the list and named in `addedAfter`, to be added by ALTER once the rows are in.
 */
function selectList(options: ImportOptions, statesAfter = false) {
  const sourceByName = new Map(options.sources.map((column) => [column.sourceName, column]));
  const expressions = options.targets.map((column) => ({
    column,
    ...columnExpressions(column, sourceByName.get(column.sourceName)),
  }));
  const later = (entry: (typeof expressions)[number]) => statesAfter && !entry.converts;
  const list = expressions.flatMap((entry) => [
    `${entry.value} as ${valueColumn(entry.column.id)}`,
    ...(later(entry) ? [] : [`${entry.state} as ${stateColumn(entry.column.id)}`]),
  ]);
  return {
    list: list.length ? `, ${list.join(', ')}` : '',
    converting: expressions.filter((entry) => entry.converts).map((entry) => entry.column.id),
    addedAfter: expressions.filter(later).map((entry) => entry.column.id),
  };
}

const rejectTables = (datasetId: string) => {
  const suffix = datasetId.replaceAll('-', '');
  return { table: `rejects_${suffix}`, scan: `rejects_scan_${suffix}` };
};

const dropRejects = async (
  connection: DuckDBConnection,
  rejects: { table: string; scan: string },
) => {
  await connection.run(`drop table if exists ${rejects.table}`).catch(() => {});
  await connection.run(`drop table if exists ${rejects.scan}`).catch(() => {});
};

/** How many lines one read rejected, and the source columns it could not cast. */
async function rejectSummary(connection: DuckDBConnection, table: string) {
  const summary = await connection.runAndReadAll(
    `select count(distinct line) as n, list(distinct column_name) filter (where error_type = 'CAST') as cast_columns from ${table}`,
  );
  const row = summary.getRowObjectsJS()[0] as { n: bigint; cast_columns: string[] | null };
  return { rejected: Number(row.n), castColumns: row.cast_columns ?? [] };
}

/**
 * The first rejected lines of a read of the whole file, numbered as a text editor does when it
 * is UTF-8: from the byte position DuckDB reports (its own line number counts records, not the
 * lines of a quoted field that spans several).
 */
async function firstRejects(
  connection: DuckDBConnection,
  table: string,
  spec: SourceSpec,
): Promise<RejectedLine[]> {
  const first = await connection.runAndReadAll(
    `select line, min(line_byte_position) as position, any_value(error_type) as error_type, any_value(error_message) as message, any_value(csv_line) as text from ${table} group by line order by line limit ${REJECTS_KEPT}`,
  );
  const rows = first.getRowObjectsJS() as {
    line: bigint;
    position: bigint | null;
    error_type: string;
    message: string;
    text: string | null;
  }[];
  const lines =
    (spec.csv?.encoding ?? 'utf-8') === 'utf-8'
      ? await linesAtOffsets(
          spec.path,
          rows.flatMap((row) => (row.position === null ? [] : [Number(row.position)])),
        ).catch(() => undefined)
      : undefined;
  return rows.map((entry) => ({
    line:
      (entry.position === null ? undefined : lines?.get(Number(entry.position))) ??
      Number(entry.line),
    reason: `${entry.error_type}: ${entry.message}`.slice(0, 300),
    ...(entry.text ? { text: entry.text.replace(/^\r?\n/, '').slice(0, 200) } : {}),
  }));
}

/**
 * DuckDB inferred a type from a sample that later lines break: the spec that reads those
 * columns as text, or undefined when there is nothing (more) to widen.
 */
function widenedSpec(
  spec: SourceSpec,
  castColumns: readonly string[],
  widened: string[],
  attempt: number,
) {
  const columns = castColumns.filter(
    (name) => name && !spec.readTypes?.[name] && !widened.includes(name),
  );
  if (columns.length === 0 || attempt >= 2) return undefined;
  widened.push(...columns);
  return {
    ...spec,
    readTypes: {
      ...spec.readTypes,
      ...Object.fromEntries(columns.map((name) => [name, 'VARCHAR'])),
    },
  };
}

function refuseBadShare(
  rows: number,
  rejected: number,
  maxBadShare: number,
  rejects: RejectedLine[],
) {
  const total = rows + rejected;
  if (total > 0 && rejected / total > maxBadShare)
    throw new AppError(
      'VALIDATION_ERROR',
      `${rejected} of ${total} lines are malformed (more than ${Math.round(maxBadShare * 1000) / 10}%); nothing was imported`,
      { details: { rejected, total, rejects } },
    );
}

const keptRejects = (rejects: RejectedLine[]) =>
  rejects.sort((a, b) => a.line - b.line).slice(0, REJECTS_KEPT);

/**
 * The read is in (in the connection's open transaction): counts the cells that did not
 * convert, runs `finish` (sequence, index) and commits. A cancel that came between two
 * statements interrupted none of them, so it is honoured here.
 */
async function commitRead(
  connection: DuckDBConnection,
  options: ImportOptions,
  converting: readonly string[],
  lastRowId: number,
  read: {
    rows: number;
    rejected: number;
    collected: RejectedLine[];
    widened: string[];
    numberedAfter?: boolean;
  },
): Promise<ImportOutcome> {
  const conversions = await countConversions(connection, options.datasetId, converting);
  await options.finish(connection, lastRowId);
  if (options.signal?.aborted) throw options.signal.reason;
  await connection.run('commit');
  return {
    rows: read.rows,
    rejected: read.rejected,
    rejects: keptRejects(read.collected),
    widened: read.widened,
    conversions,
    numberedAfter: read.numberedAfter ?? false,
  };
}

/** The whole source in one CREATE TABLE AS, in one transaction. */
async function importWhole(
  connection: DuckDBConnection,
  options: ImportOptions,
): Promise<ImportOutcome> {
  const table = datasetTable(options.datasetId);
  const rejects = options.spec.reader === 'csv' ? rejectTables(options.datasetId) : undefined;
  const widened: string[] = [];
  let spec = options.spec;
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw options.signal.reason;
    await connection.run('begin transaction');
    try {
      const { list, converting } = selectList(options);
      await connection.run(
        `create table ${table} as select (row_number() over ())::bigint as _row_id${list} from ${sourceSql(spec, rejects)}`,
      );
      const read = await tallyWholeRead(connection, options, {
        table,
        spec,
        rejects,
        widened,
        attempt,
      });
      if ('wider' in read) {
        await connection.run('rollback');
        if (rejects) await dropRejects(connection, rejects);
        spec = read.wider;
        continue;
      }
      return await commitRead(connection, options, converting, read.rows, read);
    } catch (error) {
      await rollbackAfterFailure(connection);
      throw error;
    } finally {
      if (rejects) await dropRejects(connection, rejects);
    }
  }
}

/**
 * What one read of the whole file brought in: its rows and rejected lines (with those
 * rejected before DuckDB read it), refused past the bad-line share; or, when DuckDB's inferred
 * type failed on later lines, the spec to read it again with (widenedSpec).
 */
async function tallyWholeRead(
  connection: DuckDBConnection,
  options: ImportOptions,
  read: {
    table: string;
    spec: SourceSpec;
    rejects: { table: string; scan: string } | undefined;
    widened: string[];
    attempt: number;
  },
): Promise<
  | { wider: SourceSpec }
  | { rows: number; rejected: number; collected: RejectedLine[]; widened: string[] }
> {
  let rejected = options.preRejected?.count ?? 0;
  const collected: RejectedLine[] = [...(options.preRejected?.rejects ?? [])];
  if (read.rejects) {
    const summary = await rejectSummary(connection, read.rejects.table);
    const wider = widenedSpec(read.spec, summary.castColumns, read.widened, read.attempt);
    if (wider) return { wider };
    rejected += summary.rejected;
    collected.push(...(await firstRejects(connection, read.rejects.table, read.spec)));
  }
  const count = await connection.runAndReadAll(`select count(*) as n from ${read.table}`);
  const rows = Number((count.getRowObjectsJS()[0] as { n: bigint }).n);
  refuseBadShare(rows, rejected, options.maxBadShare, keptRejects(collected));
  return { rows, rejected, collected, widened: read.widened };
}

/** Whether a CSV read whole is read in parallel and numbered after (NUMBERED_AFTER_MIN_BYTES). */
async function numbersAfter(options: ImportOptions): Promise<boolean> {
  if (options.spec.reader !== 'csv') return false;
  const size = (await stat(options.spec.path)).size;
  return size >= (options.numberedAfterMinBytes ?? NUMBERED_AFTER_MIN_BYTES);
}

/**
 * Up to this many columns, the state columns that are NULL on every row are added after the
 * read (one cheap ALTER each) instead of being written by it: 7 of them cost the 3M-row read
 * ~100 MiB of RSS and ~5–15 % of its CPU (2026-12-06; again 2026-12-07: +90 MiB and
 * +0.7–1.0 s of CPU, against 0.16–0.24 s for the seven ALTERs). Wider files keep them in the
 * read rather than send thousands of ALTERs.
 */
const STATES_AFTER_MAX_COLUMNS = 64;

/**
 * The whole CSV read on every DuckDB thread, its rows numbered after the read: numbering
 * while reading (`row_number() over ()`, importWhole) keeps DuckDB's read on one thread, which
 * made a 3M-row file take 2.6× DuckDB's own CREATE TABLE AS on a quiet 2-core machine.
 *
 * The CREATE TABLE AS commits on its own: DuckDB keeps the rows of a parallel read in file
 * order (`preserve_insertion_order`, on by default), so in the committed table `rowid` is the
 * row's position in the file. One UPDATE then sets `_row_id = rowid + 1` (committed too: in
 * one transaction with the ALTERs it fails to commit, or after them costs as much in the
 * commit; measured 2026-12-07), and one transaction adds the state columns and makes the
 * sequence. Inside the read's own transaction `rowid` holds transaction-local numbers (from
 * 36028797018960000, in file order; numbered there, the commit costs 1.1–2.8 s of CPU at 3M
 * rows against 0.2 s for this UPDATE), `ALTER … ADD COLUMN … DEFAULT nextval(…)` fills a
 * committed table on several threads, out of order, and `ALTER … TYPE … USING rowid + 1` does
 * not bind `rowid` (seen 2026-12-06/07, DuckDB 1.5.6; decision
 * 2026-12-07-imports-numbering-kept.md). Until that last
 * commit the dataset is `importing` (nobody reads the table); any failure or cancel drops the
 * table, and a server stopped in between leaves it to `sheets.recover-imports`. Its columns
 * come in another order (state columns added last), which nothing reads by position.
 */
async function importNumberedAfter(
  connection: DuckDBConnection,
  options: ImportOptions,
): Promise<ImportOutcome> {
  const table = datasetTable(options.datasetId);
  const rejects = rejectTables(options.datasetId);
  const widened: string[] = [];
  let spec = options.spec;
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw options.signal.reason;
    try {
      const { list, converting, addedAfter } = selectList(
        options,
        options.targets.length <= STATES_AFTER_MAX_COLUMNS,
      );
      await connection.run(
        `create table ${table} as select null::bigint as _row_id${list} from ${sourceSql(spec, rejects)}`,
      );
      const read = await tallyWholeRead(connection, options, {
        table,
        spec,
        rejects,
        widened,
        attempt,
      });
      if ('wider' in read) {
        await connection.run(`drop table ${table}`);
        spec = read.wider;
        continue;
      }
      if (options.signal?.aborted) throw options.signal.reason;
      // Committed on its own: before the ALTERs in one transaction DuckDB refuses the commit
      // ("another transaction has altered this table"); after them it is no cheaper.
      await connection.run(`update ${table} set _row_id = rowid + 1`);
      if (options.signal?.aborted) throw options.signal.reason;
      await connection.run('begin transaction');
      for (const columnId of addedAfter)
        await connection.run(
          `alter table ${table} add column ${stateColumn(columnId)} ${CELL_STATE_SQL_TYPE}`,
        );
      return await commitRead(connection, options, converting, read.rows, {
        ...read,
        numberedAfter: true,
      });
    } catch (error) {
      await rollbackAfterFailure(connection);
      await connection.run(`drop table if exists ${table}`).catch(() => {});
      throw error;
    } finally {
      await dropRejects(connection, rejects);
    }
  }
}

/** Per converting column: how many cells failed (their state is set only then), and the first. */
async function countConversions(
  connection: DuckDBConnection,
  datasetId: string,
  columnIds: readonly string[],
): Promise<ImportConversion[]> {
  if (columnIds.length === 0) return [];
  const table = datasetTable(datasetId);
  const counts = (
    await connection.runAndReadAll(
      `select ${columnIds.map((id, index) => `count(${stateColumn(id)}) as c${index}`).join(', ')} from ${table}`,
    )
  ).getRowObjectsJS()[0] as Record<string, bigint>;
  const conversions: ImportConversion[] = [];
  for (const [index, columnId] of columnIds.entries()) {
    const failed = Number(counts[`c${index}`] ?? 0);
    if (failed === 0) continue;
    const first = (
      await connection.runAndReadAll(
        `select _row_id, ${stateColumn(columnId)}->>'raw' as raw from ${table} where ${stateColumn(columnId)} is not null order by _row_id limit ${CONVERSIONS_KEPT}`,
      )
    ).getRowObjectsJS() as { _row_id: bigint; raw: string }[];
    conversions.push({
      columnId,
      failed,
      failures: first.map((row) => ({ rowId: String(row._row_id), raw: row.raw.slice(0, 200) })),
    });
  }
  return conversions;
}
