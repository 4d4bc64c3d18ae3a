import type { DuckDBConnection } from '@duckdb/node-api';
import { AppError, validationError } from '../platform/app-error.ts';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import { datasetTable, stateColumn, valueColumn } from './sheet-query.ts';
import type { ColumnType } from './sheet-schema.ts';

/**
 * Read-only SQL over one dataset. The user's text is parsed by DuckDB itself
 * (`json_serialize_sql`, which only serializes SELECT statements) and the syntax tree is
 * checked before anything runs:
 *   - exactly one statement, a SELECT (WITH … SELECT, set operations, subqueries);
 *   - every table it names is `dataset` or one of its own CTEs — no schema or catalog, so no
 *     other dataset, no system tables;
 *   - no table functions (read_csv, glob, duckdb_settings, query_table, …) and no scalar
 *     function that reads files, settings or the environment.
 * Statements like ATTACH, COPY, INSTALL, PRAGMA, SET do not serialize and are refused at
 * parse. The query then runs against a CTE named `dataset` that exposes the user's column
 * names, inside `select * from (…) limit cap+1`, with a timer that interrupts it.
 */
const REFUSED_FUNCTIONS =
  /^(read_|glob$|sniff_csv$|parquet_|query$|query_table$|getenv$|current_setting$|json_execute_serialized_sql$|duckdb_|pragma_|enable_|disable_|checkpoint$|force_checkpoint$|install|load|export|import|copy|attach|detach|which_secret$|icu_calendar_names$|make_timestamp_from_file|file_|txid|nextval$|currval$|setseed$|sql_auto_complete$|summary$|test_|which_|repeat_row$|range$|generate_series$|unnest$)/i;
// unnest/range/generate_series are harmless as scalar-ish table functions, but table functions
// are refused wholesale; the list keeps scalar forms of the dangerous families out.
const ALLOWED_AS_SCALAR = new Set(['unnest', 'range', 'generate_series']);

export interface SqlColumn {
  id: string;
  name: string;
  type: ColumnType;
}

export interface SqlResult {
  columns: { name: string; type: string }[];
  rows: Record<string, unknown>[];
  truncated: boolean;
}

interface AstNode {
  [key: string]: unknown;
}

const refused = (message: string) => validationError(message, [{ path: 'sql', message }]);

/** Parses and checks the query; throws VALIDATION_ERROR naming what is not allowed. */
export async function checkReadOnlySql(connection: DuckDBConnection, text: string): Promise<void> {
  if (text.length > 100_000) throw refused('Query is too long');
  let extracted: number;
  try {
    extracted = (await connection.extractStatements(text)).count;
  } catch (error) {
    throw new AppError('VALIDATION_ERROR', `Query does not parse: ${firstLine(error)}`, {
      cause: error,
    });
  }
  if (extracted !== 1) throw refused('Exactly one statement is allowed');
  // json_serialize_sql only parses (it takes a constant, so the text is a quoted literal).
  const reader = await connection.runAndReadAll(
    `select json_serialize_sql('${text.replaceAll("'", "''")}') as ast`,
  );
  const ast = JSON.parse(String(reader.getRowObjectsJS()[0]?.ast)) as AstNode;
  if (ast.error) throw refused('Only SELECT queries are allowed (WITH … SELECT included)');
  const statements = ast.statements as AstNode[];
  if (statements.length !== 1) throw refused('Exactly one statement is allowed');

  const cteNames = new Set<string>();
  const collectCtes = (node: unknown) => {
    if (Array.isArray(node)) {
      for (const item of node) collectCtes(item);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const object = node as AstNode;
    const map = (object.cte_map as AstNode | undefined)?.map as AstNode[] | undefined;
    if (Array.isArray(map))
      for (const entry of map)
        if (typeof entry.key === 'string') cteNames.add(entry.key.toLowerCase());
    for (const value of Object.values(object)) collectCtes(value);
  };
  collectCtes(statements);

  const visit = (node: unknown) => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const object = node as AstNode;
    if (object.type === 'BASE_TABLE') {
      const table = String(object.table_name ?? '').toLowerCase();
      if (object.schema_name || object.catalog_name)
        throw refused('Only the dataset may be queried (no schema or catalog names)');
      if (table !== 'dataset' && !cteNames.has(table))
        throw refused(
          `Only the dataset may be queried; "${String(object.table_name)}" is not allowed`,
        );
    }
    if (object.type === 'TABLE_FUNCTION') {
      const fn = (object.function as AstNode | undefined)?.function_name;
      throw refused(`Table functions are not allowed (${String(fn)})`);
    }
    if (object.class === 'FUNCTION' && typeof object.function_name === 'string') {
      const name = object.function_name.toLowerCase();
      if ((object.schema && object.schema !== '') || (object.catalog && object.catalog !== ''))
        throw refused(`Function ${name} is not allowed`);
      if (REFUSED_FUNCTIONS.test(name) && !ALLOWED_AS_SCALAR.has(name))
        throw refused(`Function ${name} is not allowed`);
    }
    for (const value of Object.values(object)) visit(value);
  };
  visit(statements);
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? message).replace(/^Parser Error: /, '').slice(0, 300);
}

/** `"Name"` with quotes doubled: user names are data, quoted as identifiers only here. */
export function quoteUserName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The CTE that shows a dataset under its user-visible column names. */
export function datasetView(datasetId: string, columns: readonly SqlColumn[]): string {
  const list = columns.map(
    (column) => `${valueColumn(column.id)} as ${quoteUserName(column.name)}`,
  );
  // Cell state is queryable as JSON: "<Name>:state"->>'status'.
  list.push(
    ...columns.map(
      (column) => `${stateColumn(column.id)} as ${quoteUserName(`${column.name}:state`)}`,
    ),
  );
  return `select _row_id${list.length ? `, ${list.join(', ')}` : ''} from ${datasetTable(datasetId)}`;
}

export async function runReadOnlySql(
  duckdb: DuckDb,
  options: {
    datasetId: string;
    columns: readonly SqlColumn[];
    sql: string;
    timeoutMs: number;
    maxRows: number;
  },
): Promise<SqlResult> {
  return duckdb.withConnection(async (connection) => {
    await checkReadOnlySql(connection, options.sql);
    const body = options.sql.trim().replace(/;\s*$/, '');
    const wrapped = `with dataset as (${datasetView(options.datasetId, options.columns)}) select * from (${body}) limit ${options.maxRows + 1}`;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      connection.interrupt();
    }, options.timeoutMs);
    try {
      const reader = await connection.runAndReadAll(wrapped);
      const names = reader.columnNames();
      const types = reader.columnTypes().map((type) => type.toString());
      const rows = (reader.getRowObjectsJson() as Record<string, unknown>[]).slice(
        0,
        options.maxRows,
      );
      return {
        columns: names.map((name, index) => ({ name, type: types[index] ?? 'UNKNOWN' })),
        rows,
        truncated: reader.currentRowCount > options.maxRows,
      };
    } catch (error) {
      if (timedOut)
        throw new AppError('TIMEOUT', `Query took longer than ${options.timeoutMs} ms`, {
          cause: error,
        });
      throw new AppError('VALIDATION_ERROR', `Query failed: ${firstLine(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  });
}
