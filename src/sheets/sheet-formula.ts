import type { DuckDBConnection } from '@duckdb/node-api';
import { AppError, validationError } from '../platform/app-error.ts';
import { identifierFor } from '../platform/duckdb/duckdb-identifiers.ts';
import {
  displayReferences,
  type ReferencedColumn,
  referencedColumnIds,
  replaceReferences,
  storeReferences,
} from './column-refs.ts';
import { valueColumn } from './sheet-query.ts';

/**
 * Formula columns: a DuckDB expression over other columns, written with `{{Column Name}}`
 * references (`upper({{City}}) || ' ' || {{Country}}`), stored and shown in the grammar of
 * column-refs.ts, so renaming a column never breaks a formula. Compiled to SQL over our own column identifiers and checked on DuckDB's
 * own syntax tree: one expression, no subqueries, no table functions, no other columns.
 */
const REFUSED_FUNCTIONS =
  /^(read_|glob$|sniff_csv$|parquet_|getenv$|current_setting$|getvariable$|query|duckdb_|pragma_|pg_|nextval$|currval$|setseed$|json_execute_serialized_sql$|file_|which_secret$|sql_auto_complete$|current_database$|current_catalog$|current_schemas?$)/i;

export type FormulaColumn = ReferencedColumn;

/** `{{Name}}` → `{{#id}}`; unknown names are a validation error naming them. */
export function storeFormula(
  text: string,
  columns: readonly FormulaColumn[],
): { stored: string; inputs: string[] } {
  const { stored, inputs, unknown } = storeReferences(text, columns);
  if (unknown.length > 0) {
    throw validationError(`Formula refers to unknown columns: ${unknown.join(', ')}`, [
      { path: 'formula', message: 'unknown column' },
    ]);
  }
  return { stored, inputs };
}

/** `{{#id}}` → `{{Current Name}}`, for display. */
export const displayFormula = displayReferences;

export const formulaInputs = referencedColumnIds;

/** `{{#id}}` → the column's DuckDB identifier. */
export function compileFormula(stored: string): string {
  return replaceReferences(stored, valueColumn);
}

/**
 * Parses `select (<expression>) as value` and refuses anything but one plain expression over
 * our columns. The whole statement is checked, not only its select list: text that closes the
 * parenthesis to add a WHERE, HAVING, QUALIFY, ORDER BY, LIMIT, FROM, WITH or a second column
 * is refused, and so is any subquery, table, table function or function that reads files,
 * settings or the environment anywhere in it. This is the second layer: formulas are computed
 * in the SQL sandbox (sheet-data-store.ts `recomputeFormula`), which sees only the formula's
 * input columns even when this check is wrong.
 */
export async function checkFormula(
  connection: DuckDBConnection,
  compiled: string,
  allowedColumnIds: readonly string[],
): Promise<void> {
  const allowed = new Set(allowedColumnIds.map((id) => identifierFor('col', id)));
  const refuse = (message: string) => validationError(message, [{ path: 'formula', message }]);
  if (compiled.length > 20_000) throw refuse('A formula is at most 20,000 characters');
  // Line breaks: a trailing `--` comment in the formula cannot swallow the closing text.
  const parsed = formulaStatement(compiled);
  const statements = await connection.extractStatements(parsed).catch((error: unknown) => {
    throw new AppError('VALIDATION_ERROR', 'Formula does not parse', {
      cause: error,
      details: { issues: [{ path: 'formula', message: 'does not parse' }] },
    });
  });
  if (statements.count !== 1) throw refuse('A formula is one expression');
  const reader = await connection.runAndReadAll(
    `select json_serialize_sql('${parsed.replaceAll("'", "''")}') as ast`,
  );
  const ast = JSON.parse(String(reader.getRowObjectsJS()[0]?.ast)) as Record<string, unknown>;
  if (ast.error) throw refuse('Formula does not parse as an expression');
  const all = ast.statements as Record<string, unknown>[];
  if (all.length !== 1) throw refuse('A formula is one expression');
  const node = all[0]!.node as Record<string, unknown>;
  const empty = (value: unknown) =>
    value === null || value === undefined || (Array.isArray(value) && value.length === 0);
  const cteMap = (node.cte_map as { map?: unknown[] } | undefined)?.map;
  if (
    node.type !== 'SELECT_NODE' ||
    (node.from_table as Record<string, unknown> | undefined)?.type !== 'EMPTY' ||
    !Array.isArray(node.select_list) ||
    node.select_list.length !== 1 ||
    !empty(node.where_clause) ||
    !empty(node.group_expressions) ||
    !empty(node.group_sets) ||
    !empty(node.having) ||
    !empty(node.qualify) ||
    !empty(node.sample) ||
    !empty(node.modifiers) ||
    !empty(cteMap)
  ) {
    throw refuse('A formula is one expression (no FROM, WHERE, ORDER BY, LIMIT or WITH)');
  }
  const visit = (value: unknown) => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (!value || typeof value !== 'object') return;
    const object = value as Record<string, unknown>;
    if (object.class === 'SUBQUERY') throw refuse('Subqueries are not allowed in a formula');
    if (object.class === 'WINDOW') throw refuse('Window functions are not allowed in a formula');
    if (object.type === 'TABLE_FUNCTION' || object.type === 'BASE_TABLE')
      throw refuse('Tables are not allowed in a formula');
    if (object.class === 'STAR')
      throw refuse('A formula may only refer to columns as {{Column Name}}');
    if (object.class === 'FUNCTION' && typeof object.function_name === 'string') {
      if ((object.schema && object.schema !== '') || (object.catalog && object.catalog !== ''))
        throw refuse(`Function ${object.function_name} is not allowed in a formula`);
      if (REFUSED_FUNCTIONS.test(object.function_name))
        throw refuse(`Function ${object.function_name} is not allowed in a formula`);
    }
    if (object.class === 'COLUMN_REF') {
      const names = object.column_names as string[];
      const name = names.at(-1)?.toLowerCase() ?? '';
      if (names.length !== 1 || !allowed.has(name))
        throw refuse('A formula may only refer to columns as {{Column Name}}');
    }
    for (const child of Object.values(object)) visit(child);
  };
  visit(node);
}

/** The statement a formula is parsed as. */
export const formulaStatement = (compiled: string) => `select (\n${compiled}\n) as value`;
