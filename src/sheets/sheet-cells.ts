import { validationError } from '../platform/app-error.ts';
import type { CellView } from '../shared/api-types.ts';
import { parseImageReference } from './images/image-reference.ts';
import type { CellStatus, CellValue, ColumnType } from './sheet-schema.ts';

/**
 * Per-cell state, stored beside each value column as one DuckDB JSON column (see
 * docs/decisions/2026-11-21-cell-state-in-duckdb.md). A NULL state is a cell nobody has
 * written since import or creation: version 0, no status of its own. It holds what a client
 * sees (less the value) and the generation internals; `version` is bumped on every write of
 * the cell (value or state), and compare-and-set compares it.
 */
export interface CellState extends Omit<CellView, 'value' | 'status' | 'sources'> {
  status: CellStatus | null;
  inputHash: string | null;
  promptHash: string | null;
  /** JSON text: [{ url, title, snippet }]. */
  sources: string | null;
}

/**
 * Stored as one JSON value per cell (snake_case keys), NULL until the cell is first written.
 * A STRUCT column would be typed, but every NULL struct costs its 15 child columns at import:
 * a 1M-row import took 3× DuckDB's own CREATE TABLE AS with structs, and about the same time
 * with JSON (see the decision record).
 */
export const CELL_STATE_SQL_TYPE = 'JSON';

export const EMPTY_CELL_STATE: CellState = {
  status: null,
  version: 0,
  validated: false,
  error: null,
  raw: null,
  inputHash: null,
  promptHash: null,
  model: null,
  inputTokens: null,
  outputTokens: null,
  costNanoUsd: null,
  latencyMs: null,
  attempts: null,
  sources: null,
  updatedAt: null,
};

const toNumber = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

/** The stored JSON (text, as DuckDB returns it) → CellState. */
export function cellStateFromRow(
  stored: string | Record<string, unknown> | null | undefined,
): CellState {
  if (stored === null || stored === undefined) return { ...EMPTY_CELL_STATE };
  let row: Record<string, unknown>;
  try {
    row = typeof stored === 'string' ? (JSON.parse(stored) as Record<string, unknown>) : stored;
  } catch {
    return { ...EMPTY_CELL_STATE };
  }
  if (!row || typeof row !== 'object') return { ...EMPTY_CELL_STATE };
  return {
    status: (row.status as CellStatus | null) ?? null,
    version: Number(row.version ?? 0),
    validated: row.validated === true,
    error: (row.error as string | null) ?? null,
    raw: (row.raw as string | null) ?? null,
    inputHash: (row.input_hash as string | null) ?? null,
    promptHash: (row.prompt_hash as string | null) ?? null,
    model: (row.model as string | null) ?? null,
    inputTokens: toNumber(row.input_tokens),
    outputTokens: toNumber(row.output_tokens),
    costNanoUsd: toNumber(row.cost_nano_usd),
    latencyMs: toNumber(row.latency_ms),
    attempts: toNumber(row.attempts),
    sources: (row.sources as string | null) ?? null,
    updatedAt: (row.updated_at as string | null) ?? null,
  };
}

/** CellState → the JSON text stored in the cell's state column. */
export function cellStateToJson(state: CellState): string {
  return JSON.stringify({
    status: state.status,
    version: state.version,
    validated: state.validated,
    error: state.error,
    raw: state.raw,
    input_hash: state.inputHash,
    prompt_hash: state.promptHash,
    model: state.model,
    input_tokens: state.inputTokens,
    output_tokens: state.outputTokens,
    cost_nano_usd: state.costNanoUsd,
    latency_ms: state.latencyMs,
    attempts: state.attempts,
    sources: state.sources,
    updated_at: state.updatedAt,
  });
}

const NOW_SQL = `strftime(now()::timestamp, '%Y-%m-%dT%H:%M:%S.%gZ')`;
const versionAfter = (state: string) => `coalesce(try_cast(${state}->>'version' as bigint), 0) + 1`;

/**
 * SQL: the cell state `state` (an SQL expression, NULL for a cell never written) after a value
 * failed to convert or compute: status `error`, the version bumped, not validated, `error` and
 * `raw` (SQL expressions; `raw` NULL drops it) set. Used by type changes, imports with type
 * overrides and formula columns, so every such failure looks the same to the client.
 */
export function errorStateSql(state: string, error: string, raw = 'null'): string {
  return `json_merge_patch(coalesce(${state}, '{}'::json), json_object('status', 'error', 'version', ${versionAfter(state)}, 'validated', false, 'error', ${error}, 'raw', ${raw}, 'updated_at', ${NOW_SQL}))`;
}

/** A cell's error when its value does not convert to the column's type (type change, import). */
export const conversionError = (type: ColumnType) => `Could not convert the value to ${type}`;

/** SQL: an errored cell state that computes again: status `done`, error and raw dropped. */
export function clearedStateSql(state: string): string {
  return `json_merge_patch(${state}, json_object('status', 'done', 'version', ${versionAfter(state)}, 'error', null, 'raw', null, 'updated_at', ${NOW_SQL}))`;
}

export const SQL_TYPE_BY_COLUMN_TYPE: Record<ColumnType, string> = {
  text: 'VARCHAR',
  integer: 'BIGINT',
  number: 'DOUBLE',
  boolean: 'BOOLEAN',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
  json: 'JSON',
  // A reference to the image store (images/image-reference.ts), never the bytes.
  image: 'JSON',
};

/**
 * The Hugging Face `Image` feature as Parquet holds it: a struct of the bytes and a path, in
 * either order (docs/images.md "Parquet round trip").
 */
export function isImageStructType(sqlType: string): boolean {
  const fields = /^STRUCT\((.*)\)$/i.exec(sqlType.trim())?.[1];
  if (!fields) return false;
  const names = fields
    .split(',')
    .map((field) => field.trim().replaceAll('"', '').toUpperCase())
    .sort();
  return names.length === 2 && names[0] === 'BYTES BLOB' && names[1] === 'PATH VARCHAR';
}

/** The inverse, for inferred import types; anything unlisted is imported as text. */
export function columnTypeForSqlType(sqlType: string): ColumnType {
  const type = sqlType.toUpperCase();
  // Filled after the read by the images feature (images/image-parquet-import.ts).
  if (isImageStructType(type)) return 'image';
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|HUGEINT)$/.test(type))
    return 'integer';
  if (/^(FLOAT|DOUBLE|REAL)$/.test(type) || type.startsWith('DECIMAL')) return 'number';
  if (type === 'BOOLEAN') return 'boolean';
  if (type === 'DATE') return 'date';
  if (type.startsWith('TIMESTAMP')) return 'timestamp';
  if (type === 'JSON' || type.startsWith('STRUCT') || type.endsWith('[]') || type.startsWith('MAP'))
    return 'json';
  return 'text';
}

const INTEGER_TEXT = /^[+-]?\d{1,19}$/;
const DATE_TEXT = /^\d{4}-\d{2}-\d{2}$/;
export const MAX_CELL_TEXT = 16 * 1024 * 1024;

/**
 * A value from JSON → the text DuckDB casts to the column's type, or null. Refuses values that
 * do not fit the type, naming the problem, so nothing half-valid reaches the table.
 */
export function cellValueToText(
  type: ColumnType,
  value: CellValue | undefined,
  field = 'value',
): string | null {
  if (value === null || value === undefined) return null;
  const fail = (message: string) =>
    validationError(`${field} ${message}`, [{ path: field, message }]);
  switch (type) {
    case 'text': {
      const text =
        typeof value === 'string'
          ? value
          : typeof value === 'object'
            ? JSON.stringify(value)
            : String(value);
      if (text.length > MAX_CELL_TEXT) throw fail('is too long');
      return text;
    }
    case 'integer': {
      const text =
        typeof value === 'number'
          ? Number.isInteger(value)
            ? String(value)
            : ''
          : String(value).trim();
      if (!INTEGER_TEXT.test(text)) throw fail('must be a whole number');
      return text;
    }
    case 'number': {
      const number =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && value.trim() !== ''
            ? Number(value)
            : Number.NaN;
      if (!Number.isFinite(number)) throw fail('must be a number');
      return String(number);
    }
    case 'boolean': {
      if (typeof value === 'boolean') return String(value);
      if (value === 'true' || value === 'false') return value;
      throw fail('must be true or false');
    }
    case 'date': {
      if (typeof value !== 'string' || !DATE_TEXT.test(value) || Number.isNaN(Date.parse(value))) {
        throw fail('must be a date (YYYY-MM-DD)');
      }
      return value;
    }
    case 'timestamp': {
      const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
      if (Number.isNaN(time)) throw fail('must be an ISO 8601 timestamp');
      return new Date(time).toISOString().replace('T', ' ').replace('Z', '');
    }
    case 'json': {
      const text = JSON.stringify(value);
      if (text.length > MAX_CELL_TEXT) throw fail('is too long');
      return text;
    }
    case 'image': {
      const parsed = parseImageReference(value);
      if (!parsed.ok)
        throw validationError(
          `${field} ${parsed.field ? `${parsed.field} ` : ''}${parsed.message}`,
          [{ path: parsed.field ? `${field}.${parsed.field}` : field, message: parsed.message }],
        );
      return JSON.stringify(parsed.reference);
    }
  }
}

/** A value as DuckDB returns it (selected as text for dates, timestamps and JSON) → JSON. */
export function cellValueFromSql(type: ColumnType, value: unknown): CellValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'integer': {
      const big = typeof value === 'bigint' ? value : BigInt(value as number | string);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(big)
        : big.toString();
    }
    case 'number':
      return Number(value);
    case 'boolean':
      return value === true || value === 'true';
    case 'timestamp': {
      const text = String(value);
      const time = Date.parse(text.includes('T') ? text : `${text.replace(' ', 'T')}Z`);
      return Number.isNaN(time) ? text : new Date(time).toISOString();
    }
    case 'json':
    case 'image':
      try {
        return JSON.parse(String(value)) as CellValue;
      } catch {
        return String(value);
      }
    default:
      return String(value);
  }
}
