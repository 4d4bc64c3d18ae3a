import { rm } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { AppError, validationError } from '../platform/app-error.ts';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import {
  SandboxLimitError,
  SandboxQueryError,
  type SandboxRows,
} from '../platform/duckdb/duckdb-sandbox.ts';
import { datasetTable, stateColumn, valueColumn } from './sheet-query.ts';
import type { ColumnType } from './sheet-schema.ts';

/**
 * Read-only SQL over one dataset. Two layers, and the first does not rely on the second:
 *
 * 1. Isolation (docs/security.md#the-sql-sandbox): the query runs in a sandbox process
 *    (`platform/duckdb/duckdb-sandbox.ts`) on a DuckDB instance of its own whose only relation
 *    is `dataset`, a view over a Parquet snapshot of this one dataset (the columns the query
 *    names) written for this query; file access is off and the configuration locked, memory
 *    and time are enforced from outside. Other datasets, the catalog of the main instance, the
 *    data dir and its key file are not there to be reached.
 * 2. A syntax check on DuckDB's own parse tree (`json_serialize_sql` only parses), so that
 *    what would fail in the sandbox is refused early with a clear message:
 *      - exactly one statement, a SELECT (WITH … SELECT, set operations, subqueries);
 *      - every table named is `dataset` or a CTE *in scope where it is named* (a CTE is
 *        visible in its own WITH's query and in the CTEs after it; only a recursive CTE sees
 *        itself) — no schema or catalog, so no other dataset and no system table;
 *      - no table functions, SHOW/DESCRIBE/SUMMARIZE, and no scalar function that reads
 *        files, settings or the environment, wherever they appear.
 */
const REFUSED_FUNCTIONS =
  /^(read_|glob$|sniff_csv$|parquet_|query$|query_table$|getenv$|current_setting$|getvariable$|json_execute_serialized_sql$|duckdb_|pragma_|pg_|has_.*_privilege$|enable_|disable_|checkpoint$|force_checkpoint$|install|load|export|import|copy|attach|detach|which_secret$|icu_calendar_names$|make_timestamp_from_file|file_|txid|nextval$|currval$|setseed$|sql_auto_complete$|summary$|test_|which_|repeat_row$|range$|generate_series$|unnest$|current_database$|current_catalog$|current_schemas?$|current_query$)/i;
// unnest/range/generate_series are harmless as scalar-ish table functions, but table functions
// are refused wholesale; the list keeps scalar forms of the dangerous families out.
const ALLOWED_AS_SCALAR = new Set(['unnest', 'range', 'generate_series']);
/** Table references a query may use; anything else (table functions, SHOW, …) is refused. */
const ALLOWED_TABLE_REFS = new Set(['BASE_TABLE', 'SUBQUERY', 'JOIN', 'EMPTY', 'EXPRESSION_LIST']);
const QUERY_NODES = new Set([
  'SELECT_NODE',
  'SET_OPERATION_NODE',
  'RECURSIVE_CTE_NODE',
  'CTE_NODE',
]);
/** Largest result a query sends back, whatever its row count (bytes of JSON). */
const MAX_RESULT_BYTES = 16 * 1024 * 1024;

export interface SqlColumn {
  id: string;
  name: string;
  type: ColumnType;
}

/** Column names and types, at most the row cap of plain values, and whether rows were cut. */
export type SqlResult = SandboxRows;

interface AstNode {
  [key: string]: unknown;
}

/** What the check learned about the query, for the snapshot: which columns it may read. */
export interface SqlShape {
  /** Every name used in a column reference (any part), lower-cased. */
  names: Set<string>;
  /** A `*`, `COLUMNS(…)`, USING/NATURAL join or a table used as a value: every column. */
  needsAll: boolean;
}

const refused = (message: string) => validationError(message, [{ path: 'sql', message }]);

const cteEntries = (node: AstNode): { key: string; value: AstNode }[] => {
  const map = (node.cte_map as AstNode | undefined)?.map;
  return Array.isArray(map) ? (map as { key: string; value: AstNode }[]) : [];
};

/** Parses the text with DuckDB (parse only) and returns its statements' syntax tree. */
async function parseSelect(connection: DuckDBConnection, text: string): Promise<AstNode[]> {
  let extracted: number;
  try {
    extracted = (await connection.extractStatements(text)).count;
  } catch (error) {
    throw new AppError('VALIDATION_ERROR', `Query does not parse: ${firstLine(error)}`, {
      cause: error,
      details: { issues: [{ path: 'sql', message: 'does not parse' }] },
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
  return statements;
}

/** Parses and checks the query; throws VALIDATION_ERROR naming what is not allowed. */
export async function checkReadOnlySql(
  connection: DuckDBConnection,
  text: string,
): Promise<SqlShape> {
  if (text.length > 100_000) throw refused('Query is too long');
  const statements = await parseSelect(connection, text);
  const shape: SqlShape = { names: new Set(), needsAll: false };
  const tableNames = new Set<string>(['dataset']);

  const visit = (node: unknown, scope: ReadonlySet<string>): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item, scope);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const object = node as AstNode;
    const entries = cteEntries(object);
    if (entries.length > 0) {
      // Each CTE sees the ones before it (and itself only when recursive); the query body
      // sees them all. Nothing outside this node sees any of them.
      const inner = new Set(scope);
      for (const entry of entries) {
        const name = entry.key.toLowerCase();
        const query = (entry.value.query as AstNode | undefined)?.node as AstNode | undefined;
        const recursive =
          query?.type === 'RECURSIVE_CTE_NODE' &&
          String(query.cte_name ?? '').toLowerCase() === name;
        visit(entry.value, recursive ? new Set([...inner, name]) : inner);
        inner.add(name);
        tableNames.add(name);
      }
      const { cte_map: _ctes, ...rest } = object;
      for (const value of Object.values(rest)) visit(value, inner);
      return;
    }
    const refType =
      typeof object.type === 'string' &&
      !('class' in object) &&
      'alias' in object &&
      'sample' in object &&
      !QUERY_NODES.has(object.type)
        ? object.type
        : null;
    if (refType !== null && !ALLOWED_TABLE_REFS.has(refType)) {
      if (refType === 'TABLE_FUNCTION') {
        const fn = (object.function as AstNode | undefined)?.function_name;
        throw refused(`Table functions are not allowed (${String(fn)})`);
      }
      throw refused(`Only the dataset may be queried (${refType.toLowerCase()} is not allowed)`);
    }
    if (object.type === 'BASE_TABLE') {
      const table = String(object.table_name ?? '').toLowerCase();
      if (object.schema_name || object.catalog_name)
        throw refused('Only the dataset may be queried (no schema or catalog names)');
      if (table !== 'dataset' && !scope.has(table))
        throw refused(
          `Only the dataset may be queried; "${String(object.table_name)}" is not allowed`,
        );
      if (object.alias) tableNames.add(String(object.alias).toLowerCase());
    }
    if (object.type === 'SUBQUERY' && object.alias)
      tableNames.add(String(object.alias).toLowerCase());
    if (object.type === 'JOIN') {
      if ((object.using_columns as unknown[] | undefined)?.length || object.ref_type === 'NATURAL')
        shape.needsAll = true;
    }
    if (object.class === 'STAR') shape.needsAll = true;
    if (object.class === 'COLUMN_REF' && Array.isArray(object.column_names))
      for (const part of object.column_names as string[]) shape.names.add(part.toLowerCase());
    if (object.class === 'FUNCTION' && typeof object.function_name === 'string') {
      const name = object.function_name.toLowerCase();
      if ((object.schema && object.schema !== '') || (object.catalog && object.catalog !== ''))
        throw refused(`Function ${name} is not allowed`);
      if (REFUSED_FUNCTIONS.test(name) && !ALLOWED_AS_SCALAR.has(name))
        throw refused(`Function ${name} is not allowed`);
    }
    for (const value of Object.values(object)) visit(value, scope);
  };
  visit(statements, new Set());
  // A table (or its alias) used as a value is the whole row: every column.
  for (const name of tableNames) if (shape.names.has(name)) shape.needsAll = true;
  return shape;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? message).replace(/^Parser Error: /, '').slice(0, 300);
}

/** `"Name"` with quotes doubled: user names are data, quoted as identifiers only here. */
export function quoteUserName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The columns of the query's `dataset` view: each column's value under its name, and its state. */
export function datasetColumns(columns: readonly SqlColumn[]): { sql: string; name: string }[] {
  const taken = new Set(columns.map((column) => column.name.toLowerCase()));
  const list = columns.map((column) => ({ sql: valueColumn(column.id), name: column.name }));
  // Cell state is queryable as JSON: "<Name>:state"->>'status' (unless a column has that name).
  for (const column of columns) {
    const name = `${column.name}:state`;
    if (!taken.has(name.toLowerCase())) list.push({ sql: stateColumn(column.id), name });
  }
  return list;
}

/**
 * Writes the part of a dataset a query may read to a Parquet file of the sandbox: `_row_id`
 * and the columns (values and states) the query names, or all of them.
 */
async function writeSnapshot(
  duckdb: DuckDb,
  datasetId: string,
  columns: readonly SqlColumn[],
  shape: SqlShape | undefined,
  file: string,
) {
  const selected = datasetColumns(columns).filter(
    (column) => !shape || shape.needsAll || shape.names.has(column.name.toLowerCase()),
  );
  const list = [
    '_row_id',
    ...selected.map((column) => `${column.sql} as ${quoteUserName(column.name)}`),
  ];
  await duckdb.datasets.open(datasetId);
  await duckdb.run(
    `copy (select ${list.join(', ')} from ${datasetTable(datasetId)}) to '${file.replaceAll("'", "''")}' (format parquet, compression uncompressed)`,
  );
}

export async function runReadOnlySql(
  duckdb: DuckDb,
  options: {
    datasetId: string;
    columns: readonly SqlColumn[];
    sql: string;
    timeoutMs: number;
    maxRows: number;
    /** Tests only: run without the syntax check, to show the sandbox holds on its own. */
    skipCheck?: boolean;
  },
): Promise<SqlResult> {
  const shape = options.skipCheck
    ? undefined
    : await duckdb.withConnection((connection) => checkReadOnlySql(connection, options.sql));
  const body = options.sql.trim().replace(/;\s*$/, '');
  // Line breaks around the user's text: a trailing `--` comment cannot swallow the limit.
  const wrapped = `select * from (\n${body}\n) limit ${options.maxRows + 1}`;
  const file = duckdb.sandbox.tempPath('parquet');
  try {
    await writeSnapshot(duckdb, options.datasetId, options.columns, shape, file);
    return await duckdb.sandbox.session(
      { views: [{ name: 'dataset', path: file }], timeoutMs: options.timeoutMs },
      async (session) => {
        const result = await session.query(wrapped, {
          maxRows: options.maxRows,
          maxBytes: MAX_RESULT_BYTES,
        });
        return result;
      },
    );
  } catch (error) {
    throw sandboxError(error, `Query took longer than ${options.timeoutMs} ms`, 'sql');
  } finally {
    await rm(file, { force: true });
  }
}

/** A sandbox failure as the AppError a client sees (DuckDB's message, our limits' reasons). */
export function sandboxError(error: unknown, timeoutMessage: string, path: string): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof SandboxLimitError) {
    if (error.reason === 'timeout')
      return new AppError('TIMEOUT', timeoutMessage, { cause: error });
    if (error.reason === 'memory')
      return validationError(`The ${path === 'sql' ? 'query' : 'formula'} ${error.message}`, [
        { path, message: 'memory limit' },
      ]);
    return new AppError('SERVICE_UNAVAILABLE', 'The query process stopped; try again', {
      cause: error,
    });
  }
  if (error instanceof SandboxQueryError)
    return new AppError(
      'VALIDATION_ERROR',
      `${path === 'sql' ? 'Query' : 'Formula'} failed: ${firstLine(error)}`,
      { cause: error, details: { issues: [{ path, message: 'failed' }] } },
    );
  return new AppError('INTERNAL', 'Query failed', { cause: error });
}
