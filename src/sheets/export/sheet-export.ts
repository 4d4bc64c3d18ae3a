import { rm } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import ExcelJS from 'exceljs';
import { validationError } from '../../platform/app-error.ts';
import type { DuckDb } from '../../platform/duckdb/duckdb.ts';
import { EXPORT_FORMATS, type ExportFormat } from '../../shared/api-types.ts';
import { randomImportPath } from '../import/import-files.ts';
import { datasetTable, stateColumn, valueColumn } from '../sheet-query.ts';
import type { ColumnType } from '../sheet-schema.ts';
import { quoteUserName } from '../sheet-sql.ts';

export { EXPORT_FORMATS, type ExportFormat };

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  tsv: 'text/tab-separated-values; charset=utf-8',
  jsonl: 'application/x-ndjson',
  parquet: 'application/vnd.apache.parquet',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

export interface ExportColumn {
  id: string;
  name: string;
  type: ColumnType;
}

const XLSX_MAX_ROWS = 1_048_575;
/** Excel opens no cell longer than this (UTF-16 code units); longer text is cut and marked. */
const XLSX_MAX_CELL = 32_767;
const XLSX_TRUNCATED_MARKER = '…[truncated]';

/** Text within Excel's cell limit: cut (never inside a surrogate pair) and marked when longer. */
function fitXlsxCell(text: string): { text: string; truncated: boolean } {
  if (text.length <= XLSX_MAX_CELL) return { text, truncated: false };
  let end = XLSX_MAX_CELL - XLSX_TRUNCATED_MARKER.length;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return { text: `${text.slice(0, end)}${XLSX_TRUNCATED_MARKER}`, truncated: true };
}

export interface ExportResult {
  /** The temp file; the caller streams it out and removes it. */
  path: string;
  /** XLSX: cells cut to Excel's 32,767-character limit (0 for other formats). */
  truncatedCells: number;
  /** Data rows written (the header row not counted). */
  rows: number;
}
const STATE_FIELDS = [
  'status',
  'version',
  'validated',
  'error',
  'model',
  'input_tokens',
  'output_tokens',
  'cost_nano_usd',
  'latency_ms',
  'attempts',
  'sources',
  // The model's raw answer when it did not fit the column's type. (The input and prompt
  // hashes that tell whether a generated cell is up to date are internal; `status` shows it.)
  'raw',
] as const;

/**
 * Spreadsheet formula injection (OWASP "CSV Injection"): a text cell that starts with = + - @
 * tab or carriage return is prefixed with a single quote so Excel/Sheets show it as text.
 */
export const FORMULA_PREFIX = /^[=+\-@\t\r]/;
export function escapeFormula(text: string): string {
  return FORMULA_PREFIX.test(text) ? `'${text}` : text;
}

/** A formula-guarded text expression in SQL: the same rule as `escapeFormula`. */
function escapeFormulaSql(expression: string): string {
  return `case when regexp_matches(${expression}, '^[=+\\-@\\t\\r]') then '''' || ${expression} else ${expression} end`;
}

/**
 * A number as a person writes it: `22`, not DuckDB's `22.0` (issue 14). Whole doubles within
 * the exact integer range print as integers; the rest (22.5, 1e+20, nan, inf) as DuckDB does.
 */
function plainNumberSql(expression: string): string {
  return `case when isfinite(${expression}) and ${expression} = trunc(${expression}) and abs(${expression}) < 9007199254740992 then cast(cast(${expression} as bigint) as varchar) else cast(${expression} as varchar) end`;
}

export function selectList(
  columns: readonly ExportColumn[],
  options: {
    escapeFormulas: boolean;
    withMetadata: boolean;
    jsonAsText: boolean;
    /** An image column's expression (images/image-export.ts); default: the reference. */
    image?: (column: ExportColumn, value: string) => string;
  },
): string {
  // CSV/TSV open in spreadsheets, where the header row and the metadata text are cells too.
  const header = (name: string) =>
    quoteUserName(options.escapeFormulas ? escapeFormula(name) : name);
  const text = (expression: string) =>
    options.escapeFormulas ? escapeFormulaSql(expression) : expression;
  const list: string[] = [];
  for (const column of columns) {
    const value = valueColumn(column.id);
    let expression: string = value;
    if (column.type === 'text') {
      expression = text(value);
    } else if (column.type === 'number' && options.escapeFormulas) {
      expression = plainNumberSql(value);
    } else if (column.type === 'image' && options.image) {
      expression = options.image(column, value);
    } else if (column.type === 'json' && options.jsonAsText) {
      expression = `cast(${value} as varchar)`;
    }
    list.push(`${expression} as ${header(column.name)}`);
    if (options.withMetadata) {
      for (const field of STATE_FIELDS) {
        list.push(
          `${text(`json_extract_string(${stateColumn(column.id)}, '$.${field}')`)} as ${header(`${column.name}.${field}`)}`,
        );
      }
    }
  }
  return list.length > 0 ? list.join(', ') : '_row_id as "row"';
}

export interface ExportOptions {
  datasetId: string;
  columns: readonly ExportColumn[];
  format: ExportFormat;
  withMetadata: boolean;
  dir: string;
}

/** `exportDataset`, for callers that need only the file. */
export async function exportToFile(duckdb: DuckDb, options: ExportOptions): Promise<string> {
  return (await exportDataset(duckdb, options)).path;
}

/**
 * Writes the dataset to a temp file with DuckDB's own writers (COPY streams rows; nothing is
 * held whole in memory) or, for XLSX, exceljs's streaming writer fed chunk by chunk. The caller
 * streams the file out and removes it. The whole file is written before anything is sent, so
 * the count of XLSX cells cut to Excel's limit is known in time for a response header.
 */
export async function exportDataset(duckdb: DuckDb, options: ExportOptions): Promise<ExportResult> {
  const target = randomImportPath(options.dir, `.${options.format}`);
  const table = datasetTable(options.datasetId);
  const literalTarget = `'${target.replaceAll("'", "''")}'`;
  try {
    if (options.format === 'xlsx') {
      const written = await duckdb.withConnection((connection) =>
        writeXlsx(connection, options, target),
      );
      return { path: target, ...written };
    }
    const escapeFormulas = options.format === 'csv' || options.format === 'tsv';
    const list = selectList(options.columns, {
      escapeFormulas,
      withMetadata: options.withMetadata,
      jsonAsText: options.format !== 'jsonl',
    });
    const copyOptions = {
      csv: 'format csv, header true',
      tsv: "format csv, header true, delimiter '\t'",
      jsonl: 'format json',
      parquet: 'format parquet, compression zstd',
    }[options.format];
    // COPY … TO answers the number of rows it wrote.
    const rows = await duckdb.run(
      `copy (select ${list} from ${table} order by _row_id) to ${literalTarget} (${copyOptions})`,
    );
    return { path: target, truncatedCells: 0, rows };
  } catch (error) {
    await rm(target, { force: true });
    throw error;
  }
}

/**
 * Returns how many rows were written and how many cells were cut to Excel's limit. The images
 * export (images/image-export.ts) gives its image expression and the FROM clause it joins.
 */
export async function writeXlsx(
  connection: DuckDBConnection,
  options: {
    datasetId: string;
    columns: readonly ExportColumn[];
    withMetadata: boolean;
    image?: (column: ExportColumn, value: string) => string;
    from?: string;
  },
  target: string,
): Promise<{ rows: number; truncatedCells: number }> {
  const [count] = (
    await connection.runAndReadAll(`select count(*) as n from ${datasetTable(options.datasetId)}`)
  ).getRowObjectsJS() as [{ n: bigint }];
  if (Number(count.n) > XLSX_MAX_ROWS)
    throw validationError(`XLSX holds at most ${XLSX_MAX_ROWS} rows; export as CSV or Parquet`);
  const list = selectList(options.columns, {
    escapeFormulas: false,
    withMetadata: options.withMetadata,
    jsonAsText: true,
    ...(options.image ? { image: options.image } : {}),
  });
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({
    filename: target,
    useSharedStrings: false,
    useStyles: false,
  });
  const sheet = workbook.addWorksheet('Sheet1');
  const result = await connection.stream(
    `select ${list} from ${options.from ?? datasetTable(options.datasetId)} order by _row_id`,
  );
  sheet.addRow(result.columnNames().map(escapeFormula)).commit();
  let truncated = 0;
  let rows = 0;
  const withinLimit = (text: string) => {
    const fitted = fitXlsxCell(text);
    if (fitted.truncated) truncated++;
    return fitted.text;
  };
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    for (const row of chunk.getRowObjects(result.deduplicatedColumnNames())) {
      const values = Object.values(row).map((value) => {
        if (value === null || value === undefined) return null;
        if (typeof value === 'string') return withinLimit(escapeFormula(value));
        if (typeof value === 'bigint')
          return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
        if (typeof value === 'number' || typeof value === 'boolean') return value;
        return withinLimit(String(value));
      });
      sheet.addRow(values).commit();
      rows++;
    }
  }
  sheet.commit();
  await workbook.commit();
  return { rows, truncatedCells: truncated };
}
