import { rm } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import ExcelJS from 'exceljs';
import { validationError } from '../../platform/app-error.ts';
import type { DuckDb } from '../../platform/duckdb/duckdb.ts';
import { randomImportPath } from '../import/import-files.ts';
import { datasetTable, stateColumn, valueColumn } from '../sheet-query.ts';
import type { ColumnType } from '../sheet-schema.ts';
import { quoteUserName } from '../sheet-sql.ts';

export const EXPORT_FORMATS = ['csv', 'tsv', 'jsonl', 'parquet', 'xlsx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

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
const XLSX_MAX_CELL = 32_767;
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
  // Provenance of generated cells (issue 6): which prompt version and inputs made the value,
  // and the model's raw answer when it did not fit the column's type.
  'prompt_hash',
  'input_hash',
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

function selectList(
  columns: readonly ExportColumn[],
  options: { escapeFormulas: boolean; withMetadata: boolean; jsonAsText: boolean },
): string {
  const list: string[] = [];
  for (const column of columns) {
    const value = valueColumn(column.id);
    let expression: string = value;
    if (column.type === 'text' && options.escapeFormulas) {
      expression = `case when regexp_matches(${value}, '^[=+\\-@\\t\\r]') then '''' || ${value} else ${value} end`;
    } else if (column.type === 'json' && options.jsonAsText) {
      expression = `cast(${value} as varchar)`;
    }
    list.push(`${expression} as ${quoteUserName(column.name)}`);
    if (options.withMetadata) {
      for (const field of STATE_FIELDS) {
        list.push(
          `json_extract_string(${stateColumn(column.id)}, '$.${field}') as ${quoteUserName(`${column.name}.${field}`)}`,
        );
      }
    }
  }
  return list.length > 0 ? list.join(', ') : '_row_id as "row"';
}

/**
 * Writes the dataset to a temp file with DuckDB's own writers (COPY streams rows; nothing is
 * held whole in memory) or, for XLSX, exceljs's streaming writer fed chunk by chunk. The caller
 * streams the file out and removes it.
 */
export async function exportToFile(
  duckdb: DuckDb,
  options: {
    datasetId: string;
    columns: readonly ExportColumn[];
    format: ExportFormat;
    withMetadata: boolean;
    dir: string;
  },
): Promise<string> {
  const target = randomImportPath(options.dir, `.${options.format}`);
  const table = datasetTable(options.datasetId);
  const literalTarget = `'${target.replaceAll("'", "''")}'`;
  try {
    if (options.format === 'xlsx') {
      await duckdb.withConnection((connection) => writeXlsx(connection, options, target));
      return target;
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
    await duckdb.run(
      `copy (select ${list} from ${table} order by _row_id) to ${literalTarget} (${copyOptions})`,
    );
    return target;
  } catch (error) {
    await rm(target, { force: true });
    throw error;
  }
}

async function writeXlsx(
  connection: DuckDBConnection,
  options: { datasetId: string; columns: readonly ExportColumn[]; withMetadata: boolean },
  target: string,
) {
  const [count] = (
    await connection.runAndReadAll(`select count(*) as n from ${datasetTable(options.datasetId)}`)
  ).getRowObjectsJS() as [{ n: bigint }];
  if (Number(count.n) > XLSX_MAX_ROWS)
    throw validationError(`XLSX holds at most ${XLSX_MAX_ROWS} rows; export as CSV or Parquet`);
  const list = selectList(options.columns, {
    escapeFormulas: false,
    withMetadata: options.withMetadata,
    jsonAsText: true,
  });
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({
    filename: target,
    useSharedStrings: false,
    useStyles: false,
  });
  const sheet = workbook.addWorksheet('Sheet1');
  const result = await connection.stream(
    `select ${list} from ${datasetTable(options.datasetId)} order by _row_id`,
  );
  sheet.addRow(result.columnNames()).commit();
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    for (const row of chunk.getRowObjects(result.deduplicatedColumnNames())) {
      const values = Object.values(row).map((value) => {
        if (value === null || value === undefined) return null;
        if (typeof value === 'string') return escapeFormula(value).slice(0, XLSX_MAX_CELL);
        if (typeof value === 'bigint')
          return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
        if (typeof value === 'number' || typeof value === 'boolean') return value;
        return String(value).slice(0, XLSX_MAX_CELL);
      });
      sheet.addRow(values).commit();
    }
  }
  sheet.commit();
  await workbook.commit();
}
