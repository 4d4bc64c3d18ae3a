import type { DuckDBValue } from '@duckdb/node-api';
import { validationError } from '../platform/app-error.ts';
import { datasetCatalog } from '../platform/duckdb/duckdb-datasets.ts';
import { identifierFor, quoteIdentifier } from '../platform/duckdb/duckdb-identifiers.ts';
import { cellValueToText, SQL_TYPE_BY_COLUMN_TYPE } from './sheet-cells.ts';
import type { ColumnKind, ColumnType, Filter, Sort } from './sheet-schema.ts';

/** What the data layer needs to know about a column: never its user-visible name. */
export interface ColumnRef {
  id: string;
  type: ColumnType;
  kind: ColumnKind;
}

/**
 * DuckDB names, built only from our ids (DESIGN.md: user names are data). A dataset's table,
 * sequence and index live in its own file, attached as the catalog `ds_<hex>`
 * (platform/duckdb/duckdb-datasets.ts: `duckdb.datasets.open(id)` before naming them).
 */
const inDatasetFile = (datasetId: string, name: string) =>
  `${quoteIdentifier(datasetCatalog(datasetId))}.main.${quoteIdentifier(name)}`;
export const datasetTable = (datasetId: string) =>
  inDatasetFile(datasetId, identifierFor('ds', datasetId));
export const datasetSequence = (datasetId: string) =>
  inDatasetFile(datasetId, `${identifierFor('ds', datasetId)}_seq`);
/** The sequence as nextval() takes it: a string literal of its qualified name. */
export const datasetSequenceName = (datasetId: string) =>
  `'${datasetCatalog(datasetId)}.main.${identifierFor('ds', datasetId)}_seq'`;
/** The index's own name (CREATE INDEX takes it unqualified: it lands in its table's schema). */
export const datasetIndex = (datasetId: string) =>
  quoteIdentifier(`${identifierFor('ds', datasetId)}_pk`);
export const datasetIndexQualified = (datasetId: string) =>
  inDatasetFile(datasetId, `${identifierFor('ds', datasetId)}_pk`);
export const valueColumn = (columnId: string) => quoteIdentifier(identifierFor('col', columnId));
export const stateColumn = (columnId: string) =>
  quoteIdentifier(`st${identifierFor('col', columnId).slice(3)}`);
export const sqlType = (type: ColumnType) => SQL_TYPE_BY_COLUMN_TYPE[type];

/** A SQL fragment and the parameters it binds, in order. */
export interface SqlPart {
  sql: string;
  params: DuckDBValue[];
}

/** `%`, `_` and `\` are literal in a user's "contains" text. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (match) => `\\${match}`)}%`;
}

const isTextual = (type: ColumnType) => type === 'text' || type === 'json';

/** Filters and search → one WHERE body (`true` when there are none). */
export function whereClause(
  columns: ReadonlyMap<string, ColumnRef>,
  filters: readonly Filter[],
  search?: string,
): SqlPart {
  const parts: string[] = [];
  const params: DuckDBValue[] = [];
  const columnOf = (id: string) => {
    const column = columns.get(id);
    if (!column)
      throw validationError(`Unknown column ${id}`, [
        { path: 'filters.columnId', message: 'unknown column' },
      ]);
    return column;
  };
  for (const filter of filters) {
    const column = columnOf(filter.columnId);
    const value = valueColumn(column.id);
    const state = stateColumn(column.id);
    switch (filter.op) {
      case 'equals': {
        const text = cellValueToText(column.type, filter.value, 'filters.value');
        if (text === null) parts.push(`${value} is null`);
        else {
          parts.push(`${value} = cast(? as ${sqlType(column.type)})`);
          params.push(text);
        }
        break;
      }
      case 'contains':
        parts.push(`cast(${value} as varchar) ilike ? escape '\\'`);
        params.push(likePattern(filter.value));
        break;
      case 'empty':
        parts.push(
          isTextual(column.type)
            ? `(${value} is null or cast(${value} as varchar) = '')`
            : `${value} is null`,
        );
        break;
      case 'not-empty':
        parts.push(
          isTextual(column.type)
            ? `(${value} is not null and cast(${value} as varchar) <> '')`
            : `${value} is not null`,
        );
        break;
      case 'range': {
        const bound = (raw: number | string) =>
          cellValueToText(column.type === 'text' ? 'text' : column.type, raw, 'filters.range');
        if (filter.min !== undefined) {
          parts.push(`${value} >= cast(? as ${sqlType(column.type)})`);
          params.push(bound(filter.min));
        }
        if (filter.max !== undefined) {
          parts.push(`${value} <= cast(? as ${sqlType(column.type)})`);
          params.push(bound(filter.max));
        }
        break;
      }
      case 'status': {
        // A cell never written has no status of its own: static and formula cells count as
        // done, AI cells as pending (issue 6 writes real states for its cells).
        const implicit = column.kind === 'ai' ? 'pending' : 'done';
        parts.push(
          `coalesce(json_extract_string(${state}, '$.status'), '${implicit}') in (${filter.values.map(() => '?').join(', ')})`,
        );
        params.push(...filter.values);
        break;
      }
    }
  }
  if (search && search.trim() !== '') {
    const textColumns = [...columns.values()].filter((column) => isTextual(column.type));
    if (textColumns.length === 0) parts.push('false');
    else {
      parts.push(
        `(${textColumns.map((column) => `cast(${valueColumn(column.id)} as varchar) ilike ? escape '\\'`).join(' or ')})`,
      );
      for (const _ of textColumns) params.push(likePattern(search.trim()));
    }
  }
  return { sql: parts.length === 0 ? 'true' : parts.join(' and '), params };
}

/** Sort keys → ORDER BY body; `_row_id` always last, so the order is total and stable. */
export function orderClause(
  columns: ReadonlyMap<string, ColumnRef>,
  sort: readonly Sort[],
): string {
  const keys = sort.map((key) => {
    const column = columns.get(key.columnId);
    if (!column)
      throw validationError(`Unknown column ${key.columnId}`, [
        { path: 'sort.columnId', message: 'unknown column' },
      ]);
    return `${valueColumn(column.id)} ${key.direction === 'desc' ? 'desc' : 'asc'} nulls last`;
  });
  keys.push('_row_id asc');
  return keys.join(', ');
}
