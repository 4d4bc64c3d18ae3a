import { rm } from 'node:fs/promises';
import path from 'node:path';
import { type DuckDBConnection, type DuckDBValue, listValue } from '@duckdb/node-api';
import { type AppError, conflict, validationError } from '../platform/app-error.ts';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import { identifierFor, quoteIdentifier } from '../platform/duckdb/duckdb-identifiers.ts';
import { SandboxQueryError } from '../platform/duckdb/duckdb-sandbox.ts';
import { uuidv7 } from '../platform/ids.ts';
import {
  CELL_STATE_SQL_TYPE,
  type CellState,
  cellStateFromRow,
  cellStateToJson,
  cellValueFromSql,
  cellValueToText,
  clearedStateSql,
  conversionError,
  EMPTY_CELL_STATE,
  errorStateSql,
} from './sheet-cells.ts';
import { createKeyedMutex } from './sheet-lock.ts';
import {
  type ColumnRef,
  datasetIndex,
  datasetIndexQualified,
  datasetSequence,
  datasetSequenceName,
  datasetTable,
  orderClause,
  sqlType,
  stateColumn,
  valueColumn,
  whereClause,
} from './sheet-query.ts';
import type { CellValue, ColumnType, WindowQuery } from './sheet-schema.ts';
import { sandboxError } from './sheet-sql.ts';

export interface CellRead {
  value: CellValue;
  state: CellState;
}

export interface RowRead {
  rowId: string;
  /** 1-based position in the requested order and filter; computed, never stored. */
  ordinal: number;
  cells: Record<string, CellRead>;
}

export interface WindowResult {
  total: number;
  rows: RowRead[];
}

/** One cell write: the version the writer saw, the new value (omit to keep it) and state. */
export interface CellWrite {
  rowId: bigint;
  expectedVersion: number;
  value?: CellValue;
  /** Fields to change; `version` and `updatedAt` are set by the store. */
  state?: Partial<Omit<CellState, 'version' | 'updatedAt'>>;
}

export interface CellConflict {
  rowId: string;
  /** Absent when the row no longer exists. */
  current: CellRead | undefined;
}

export interface CompareAndSetResult {
  applied: { rowId: string; version: number; value: CellValue; state: CellState }[];
  conflicts: CellConflict[];
}

/** The writes of one column in a bulk compare-and-set; no `expectedVersion` overwrites. */
export interface ColumnWrites {
  column: ColumnRef;
  writes: readonly (Omit<CellWrite, 'expectedVersion'> & { expectedVersion?: number })[];
}

export interface BulkCompareAndSetResult {
  /** Per column, in the order given; empty when rows were missing. */
  columns: ({ columnId: string } & CompareAndSetResult)[];
  /** Row ids that do not exist; when any, nothing was written. */
  missing: string[];
}

interface PlannedWrite {
  rowId: bigint;
  expectedVersion: number;
  text: string | null;
  keep: boolean;
  state: CellState;
  value: CellValue;
}

export interface TypeChangeResult {
  failed: number;
  /** The first failures, with the text each cell held (kept in its state's `raw`). */
  failures: { rowId: string; raw: string }[];
}

/** A formula column to compute: its column, its compiled expression, the columns it reads. */
export interface FormulaToCompute {
  column: ColumnRef;
  expression: string;
  inputs: readonly string[];
}

export interface FormulaOptions {
  rowIds?: readonly bigint[] | undefined;
  /** Column id → name, to show names instead of our identifiers in error messages. */
  names?: ReadonlyMap<string, string>;
  strict?: boolean;
  bindOnly?: boolean;
}

export interface FormulaResult {
  /** Rows whose expression raised an error (value NULL, status `error`). */
  failed: number;
  /** The first failures with their message (the others say FORMULA_FAILED). */
  failures: { rowId: string; error: string }[];
}

/** Failing rows that get DuckDB's own message (one lookup each); the rest get the generic one. */
const FORMULA_ERROR_MESSAGES = 100;
const FORMULA_FAILED = 'The formula failed on this row';

const tooLarge = (bytes: number) =>
  `The value is larger than ${bytes.toLocaleString('en-US')} bytes (BRAINCELLS_FORMULA_MAX_VALUE_BYTES)`;

/** The formula as a whole failed in the sandbox: the error a client sees. */
function formulaFailure(error: unknown, names?: ReadonlyMap<string, string>): AppError {
  if (error instanceof SandboxQueryError)
    return validationError(`Formula failed: ${formulaErrorMessage(error, names)}`, [
      { path: 'formula', message: 'failed' },
    ]);
  return sandboxError(
    error,
    'The formula took longer than its time limit (BRAINCELLS_FORMULA_TIMEOUT_MS)',
    'formula',
  );
}

/** DuckDB's error → one short line, our column identifiers replaced by `{{Name}}`. */
function formulaErrorMessage(cause: unknown, names?: ReadonlyMap<string, string>): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  const line = (message.split('\n')[0] ?? '').trim();
  const shown = line.replace(/\bcol_([0-9a-f]{32})\b/g, (_, hex: string) => {
    const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    const name = names?.get(id);
    return name === undefined ? 'a column' : `{{${name}}}`;
  });
  if (shown === '') return FORMULA_FAILED;
  return shown.length > 300 ? `${shown.slice(0, 299)}…` : shown;
}

const SORTED_WINDOW_CACHE_ENTRIES = 16;
/** About 10 columns of a 1M-row dataset; a bigger sorted view caches its ordering only. */
const MATERIALIZED_CELLS = 10_000_000;

/** A cached view: row ids by position, and for sorted views a copy of the values. */
interface Ordering {
  table: string;
  total: number;
  /** Counters of the row set and of the sort, filter and search columns it was built from. */
  version: string;
  datasetId: string;
  /** The table holding ord, _row_id and every column's value and state, once copied. */
  copy?: string;
  /** Column id → its write counter when its values were copied (undefined: ids only). */
  copied: Map<string, number> | undefined;
  /** Cells copied (0 for ids only). */
  cells: number;
}
/**
 * Text lists travel as one JSON parameter: the node binding infers a list's element type from
 * its first item, so `[null, 'x']` would bind as a list of NULLs.
 */
const TEXT_LIST = 'cast(cast(? as json) as varchar[])';
const textList = (values: readonly (string | null)[]) => JSON.stringify(values);
const CACHE_DB = 'sheet_cache';

/**
 * `rows`' values as one text list per column (each value checked against its column's type),
 * and the SQL that reads them back as rows: `casts` (`v0`, `v1`, … cast to the columns' types)
 * over `from` (unnested lists, or a range when there are no columns).
 */
function valueLists(columns: readonly ColumnRef[], rows: readonly Record<string, CellValue>[]) {
  const lists = columns.map((column) =>
    textList(
      rows.map((row, index) =>
        cellValueToText(column.type, row[column.id], `rows.${index}.${column.id}`),
      ),
    ),
  );
  return {
    lists,
    casts: columns.map((column, index) => `cast(v${index} as ${sqlType(column.type)})`),
    unnests: columns.map((_, index) => `unnest(${TEXT_LIST}) as v${index}`),
  };
}

/** The INSERT of `rows` (values checked against their columns' types) returning their ids. */
function insertStatement(
  datasetId: string,
  columns: readonly ColumnRef[],
  rows: readonly Record<string, CellValue>[],
): [string, DuckDBValue[]] {
  const { lists, casts, unnests } = valueLists(columns, rows);
  const targets = ['_row_id', ...columns.map((column) => valueColumn(column.id))].join(', ');
  const from =
    columns.length > 0 ? `from (select ${unnests.join(', ')}) u` : `from range(${rows.length})`;
  return [
    `insert into ${datasetTable(datasetId)} (${targets}) select nextval(${datasetSequenceName(datasetId)}), ${casts.join(', ')} ${from} returning _row_id`,
    lists,
  ];
}

/**
 * Dataset values in DuckDB. One table per dataset: `_row_id BIGINT` (from a sequence: never
 * reused, never renumbered), and per sheet column a value column plus a cell-state JSON column.
 * Every write holds the dataset's lock; reads go straight to DuckDB.
 */
export function createSheetDataStore(options: {
  duckdb: DuckDb;
  /** Limits of formula computation (defaults: 60 s, 1 MiB per value). */
  formula?: { timeoutMs?: number; maxValueBytes?: number };
  /** Above this many matching rows, offset windows are served from a cached ordering. */
  orderingCacheThreshold?: number;
  /** Cells (rows × columns) the cached sorted views may copy, all views together. */
  materializeCells?: number;
}) {
  const { duckdb } = options;
  const threshold = options.orderingCacheThreshold ?? 20_000;
  const materializeBudget = options.materializeCells ?? MATERIALIZED_CELLS;
  const formulaLimits = {
    timeoutMs: options.formula?.timeoutMs ?? 60_000,
    maxValueBytes: options.formula?.maxValueBytes ?? 1024 * 1024,
  };
  const locks = createKeyedMutex();
  /**
   * Write counters per dataset: `rows` for changes of the row set or table shape, one per
   * column for value writes. A cached ordering remembers the counters of what it depends on
   * (rows, sort, filter and search columns), so an AI run writing one column does not throw
   * away the orderings of views sorted by other columns.
   */
  const versions = new Map<string, { rows: number; columns: Map<string, number> }>();
  const orderings = new Map<string, Ordering>();
  let cacheReady: Promise<void> | undefined;

  const countersOf = (datasetId: string) => {
    let counters = versions.get(datasetId);
    if (!counters) {
      counters = { rows: 0, columns: new Map() };
      versions.set(datasetId, counters);
    }
    return counters;
  };
  /** `columns` undefined: the row set or shape changed; else only those columns' values. */
  const bump = (datasetId: string, columns?: readonly string[]) => {
    const counters = countersOf(datasetId);
    if (columns === undefined) counters.rows++;
    else for (const id of columns) counters.columns.set(id, (counters.columns.get(id) ?? 0) + 1);
  };
  const signature = (datasetId: string, columns: readonly string[]) => {
    const counters = countersOf(datasetId);
    return [
      counters.rows,
      ...[...new Set(columns)].sort().map((id) => `${id}:${counters.columns.get(id) ?? 0}`),
    ].join('|');
  };
  // A file detached (its lease lost, or the dataset dropped) may come back changed by another
  // server: its cached orderings and row span are forgotten.
  duckdb.datasets.onDetach((datasetId) => {
    bump(datasetId);
    indexLookedFor.delete(datasetId);
    void dropOrderings(datasetId).catch(() => {});
  });
  /**
   * Datasets whose row-id index was looked for since their file was attached. An import makes
   * the index in the background after it ends (indexImportedSoon); a server that crashed in
   * between left a table without one, so the first open after an attach makes it if missing.
   */
  const indexLookedFor = new Set<string>();
  const makeIndexIfMissing = async (datasetId: string) => {
    // The file's catalog and its table share one name (sheet-query.ts).
    const name = identifierFor('ds', datasetId);
    const [found] = await duckdb.query<{ tables: bigint; indexes: bigint }>(
      `select (select count(*) from duckdb_tables() where database_name = ? and table_name = ?) as tables,
              (select count(*) from duckdb_indexes() where database_name = ? and index_name = ?) as indexes`,
      [name, name, name, `${name}_pk`],
    );
    if (found && found.tables > 0n && found.indexes === 0n) indexSoon(datasetId);
  };
  const indexSoon = (datasetId: string) =>
    duckdb.checkpointSoon(datasetId, () =>
      write(datasetId, async () => {
        await duckdb.withConnection((connection) => createIndex(connection, datasetId));
      }),
    );
  /** A dataset's file is attached (and this server owns it) before its table is named. */
  const open = async (datasetId: string) => {
    await duckdb.datasets.open(datasetId);
    if (indexLookedFor.has(datasetId)) return;
    indexLookedFor.add(datasetId);
    await makeIndexIfMissing(datasetId);
  };
  const write = <T>(datasetId: string, work: () => Promise<T>, columns?: readonly string[]) =>
    locks.run(datasetId, async () => {
      // Held while it writes: the bound on attached files never detaches it mid-transaction.
      const release = duckdb.datasets.hold(datasetId);
      try {
        await open(datasetId);
        // A server whose lease ran out (or was taken over) stops here, before writing.
        duckdb.datasets.checkWrite(datasetId);
        try {
          return await work();
        } finally {
          bump(datasetId, columns);
        }
      } finally {
        release();
      }
    });

  const ensureCache = () => {
    // An in-memory catalog shared by every connection of the instance (temp tables are not).
    cacheReady ??= duckdb
      .run(`attach if not exists ':memory:' as ${CACHE_DB}`)
      .then(() => undefined);
    return cacheReady;
  };

  /** Row count and id range per dataset, for the row-set counter they were read at. */
  const spans = new Map<string, { rows: number; total: number; low: bigint; high: bigint }>();
  const idSpan = async (datasetId: string) => {
    const rows = countersOf(datasetId).rows;
    const known = spans.get(datasetId);
    if (known && known.rows === rows) return known;
    const [row] = await duckdb.query<{ n: bigint; low: bigint | null; high: bigint | null }>(
      `select count(*) as n, min(_row_id) as low, max(_row_id) as high from ${datasetTable(datasetId)}`,
    );
    const span = { rows, total: Number(row?.n ?? 0), low: row?.low ?? 0n, high: row?.high ?? -1n };
    if (spans.size > 1_000) spans.clear();
    spans.set(datasetId, span);
    return span;
  };

  const dropCacheTable = (name: string) =>
    duckdb.run(`drop table if exists ${CACHE_DB}.${quoteIdentifier(name)}`).catch(() => 0);
  const forgetOrdering = async (key: string, entry: Ordering) => {
    orderings.delete(key);
    await dropCacheTable(entry.table);
    if (entry.copy) await dropCacheTable(entry.copy);
  };
  const copying = new Set<Promise<void>>();
  /**
   * In the background, copies every column's values and states next to the sorted view's
   * ordinals, so its windows become one contiguous read (~1 ms) instead of 100 index lookups
   * scattered over the table (~7 ms). The first sorted window does not wait for it. Column
   * counters are taken before the copy: a write racing with it marks its column dirty, and
   * dirty columns are read from the table itself.
   */
  const copyValues = (key: string, entry: Ordering, all: readonly ColumnRef[], cells: number) => {
    const counters = countersOf(entry.datasetId);
    const copied = new Map(all.map((column) => [column.id, counters.columns.get(column.id) ?? 0]));
    const name = identifierFor('tmp', uuidv7());
    const values = all
      .map((column) => `, t.${valueColumn(column.id)}, t.${stateColumn(column.id)}`)
      .join('');
    const task = (async () => {
      await duckdb.run(
        `create table ${CACHE_DB}.${quoteIdentifier(name)} as select o.ord, o._row_id${values} from ${CACHE_DB}.${quoteIdentifier(entry.table)} o join ${datasetTable(entry.datasetId)} t on t._row_id = o._row_id order by o.ord`,
      );
      if (orderings.get(key) !== entry) {
        await dropCacheTable(name); // the view was dropped or rebuilt meanwhile
        return;
      }
      entry.copy = name;
      entry.copied = copied;
      entry.cells = cells;
      // Keep the copies within their budget, oldest first (never the one just made).
      let total = 0;
      for (const other of orderings.values()) total += other.cells;
      for (const [otherKey, other] of orderings) {
        if (total <= materializeBudget) break;
        if (other === entry || !other.copy) continue;
        total -= other.cells;
        await forgetOrdering(otherKey, other);
      }
    })()
      .catch(() => dropCacheTable(name).then(() => undefined))
      .finally(() => copying.delete(task));
    copying.add(task);
  };
  const dropOrderings = async (datasetId?: string) => {
    for (const [key, entry] of orderings) {
      if (datasetId !== undefined && entry.datasetId !== datasetId) continue;
      await forgetOrdering(key, entry);
    }
  };

  /** Result aliases of a column's value and state (`v…`/`s…` + the id's hex), memoized. */
  const aliases = new Map<string, { value: string; state: string }>();
  const aliasesOf = (columnId: string) => {
    let found = aliases.get(columnId);
    if (!found) {
      const suffix = identifierFor('col', columnId).slice(3);
      found = { value: `v${suffix}`, state: `s${suffix}` };
      if (aliases.size > 10_000) aliases.clear();
      aliases.set(columnId, found);
    }
    return found;
  };

  const selectList = (columns: readonly ColumnRef[]) =>
    columns
      .flatMap((column) => {
        const value =
          column.type === 'date' ||
          column.type === 'timestamp' ||
          column.type === 'json' ||
          column.type === 'image'
            ? `cast(${valueColumn(column.id)} as varchar)`
            : valueColumn(column.id);
        const alias = aliasesOf(column.id);
        return [
          `${value} as ${quoteIdentifier(alias.value)}`,
          `${stateColumn(column.id)} as ${quoteIdentifier(alias.state)}`,
        ];
      })
      .join(', ');

  const readRow = (
    columns: readonly ColumnRef[],
    row: Record<string, unknown>,
  ): Record<string, CellRead> => {
    const cells: Record<string, CellRead> = {};
    for (const column of columns) {
      const { value, state } = aliasesOf(column.id);
      cells[column.id] = {
        value: cellValueFromSql(column.type, row[value]),
        state: cellStateFromRow(row[state] as string | null),
      };
    }
    return cells;
  };

  const rowsByIds = async (
    datasetId: string,
    columns: readonly ColumnRef[],
    rowIds: readonly bigint[],
  ) => {
    if (rowIds.length === 0) return new Map<string, Record<string, CellRead>>();
    const list = columns.length > 0 ? `, ${selectList(columns)}` : '';
    // A literal IN list of integers lets DuckDB use the _row_id index; ids are bigints, never
    // text. The range bound lets it skip row groups by their min/max first (rows are stored in
    // _row_id order): a 100-id lookup in 1M rows drops from ~5 ms to ~3 ms p50, ~19 to ~4 ms p99.
    let low = rowIds[0]!;
    let high = low;
    for (const id of rowIds) {
      if (id < low) low = id;
      if (id > high) high = id;
    }
    const rows = await duckdb.query(
      `select _row_id${list} from ${datasetTable(datasetId)} where _row_id between ${low} and ${high} and _row_id in (${rowIds.map((id) => id.toString()).join(', ')})`,
    );
    return new Map(rows.map((row) => [String(row._row_id), readRow(columns, row)]));
  };

  const createIndex = (connection: DuckDBConnection, datasetId: string) =>
    connection.run(
      `create unique index if not exists ${datasetIndex(datasetId)} on ${datasetTable(datasetId)} (_row_id)`,
    );

  /** ALTERs other than ADD COLUMN refuse to run while an index exists: drop, alter, re-create. */
  const alterWithoutIndex = (
    datasetId: string,
    statements: string[],
    params: DuckDBValue[][] = [],
  ) =>
    duckdb.withConnection(async (connection) => {
      await connection.run('begin transaction');
      try {
        await connection.run(`drop index if exists ${datasetIndexQualified(datasetId)}`);
        for (const [index, statement] of statements.entries())
          await connection.run(statement, params[index]);
        await connection.run('commit');
      } catch (error) {
        await connection.run('rollback').catch(() => {});
        throw error;
      }
      await createIndex(connection, datasetId);
    });

  /** Decides each write against the current cells: accepted (with its new state) or conflict. */
  const planWrites = (
    column: ColumnRef,
    writes: readonly (Omit<CellWrite, 'expectedVersion'> & { expectedVersion?: number })[],
    current: ReadonlyMap<string, Record<string, CellRead>>,
    now: string,
  ) => {
    const conflicts: CellConflict[] = [];
    const accepted: PlannedWrite[] = [];
    for (const entry of writes) {
      const cell = current.get(entry.rowId.toString())?.[column.id];
      if (
        !cell ||
        (entry.expectedVersion !== undefined && cell.state.version !== entry.expectedVersion)
      ) {
        conflicts.push({ rowId: entry.rowId.toString(), current: cell });
        continue;
      }
      const keep = entry.value === undefined;
      const text = keep ? null : cellValueToText(column.type, entry.value, 'value');
      const state: CellState = {
        ...(cell.state.version === 0 ? EMPTY_CELL_STATE : cell.state),
        ...entry.state,
        version: cell.state.version + 1,
        updatedAt: now,
      };
      const value = keep ? cell.value : cellValueFromSql(column.type, text);
      accepted.push({
        rowId: entry.rowId,
        expectedVersion: cell.state.version,
        text,
        keep,
        state,
        value,
      });
    }
    return { accepted, conflicts };
  };

  /** One statement writes every accepted cell of a column, each still at its version. */
  const updateSql = (datasetId: string, column: ColumnRef) => {
    const table = datasetTable(datasetId);
    const target = valueColumn(column.id);
    const state = stateColumn(column.id);
    return `update ${table} set ${target} = case when u.keep then ${table}.${target} else cast(u.value as ${sqlType(column.type)}) end,
               ${state} = cast(u.state as json)
             from (select unnest(?::bigint[]) as row_id, unnest(?::bigint[]) as expected, unnest(?::boolean[]) as keep,
                          unnest(${TEXT_LIST}) as value, unnest(${TEXT_LIST}) as state) u
             where ${table}._row_id = u.row_id and coalesce(try_cast(${table}.${state}->>'version' as bigint), 0) = u.expected`;
  };
  const updateParams = (accepted: readonly PlannedWrite[]): DuckDBValue[] => [
    listValue(accepted.map((entry) => entry.rowId)),
    listValue(accepted.map((entry) => BigInt(entry.expectedVersion))),
    listValue(accepted.map((entry) => entry.keep)),
    textList(accepted.map((entry) => entry.text)),
    textList(accepted.map((entry) => cellStateToJson(entry.state))),
  ];
  const planResult = (plan: {
    accepted: PlannedWrite[];
    conflicts: CellConflict[];
  }): CompareAndSetResult => ({
    applied: plan.accepted.map((entry) => ({
      rowId: entry.rowId.toString(),
      version: entry.state.version,
      value: entry.value,
      state: entry.state,
    })),
    conflicts: plan.conflicts,
  });

  /**
   * Recomputes formula columns (sheet-formula.ts) for the given rows or all, set-based, in the
   * SQL sandbox: the rows' ids and the formulas' other input columns (nothing else) go to a
   * Parquet file, a sandbox process computes each formula into a file of its own (a formula
   * reads the values computed before it), and they are written back under the dataset's lock,
   * so an edit made meanwhile waits for them and recomputes after
   * (docs/security.md#the-sql-sandbox).
   *   - A row whose expression (or its cast to the column's type) raises an error gets NULL
   *     and status `error` with DuckDB's message; a NULL the expression returns on its own
   *     (NULL inputs, `try_cast`) is a value, not an error. A value larger than
   *     `maxValueBytes` is an error saying so.
   *   - A formula failing as a whole (it does not bind, a volatile function raised, the time
   *     or memory limit): `strict` throws (nothing is written); otherwise every cell of it in
   *     scope becomes an error with the reason, so the write that triggered it never fails.
   *   - `bindOnly`: computes over no rows and writes nothing (a check that it binds).
   * See docs/sheets.md#formula-columns.
   */
  const recomputeFormulas = (
    datasetId: string,
    formulas: readonly FormulaToCompute[],
    options: FormulaOptions,
  ) =>
    write(
      datasetId,
      async (): Promise<FormulaResult[]> => {
        const none = formulas.map(() => ({ failed: 0, failures: [] }));
        const rowIds = options.rowIds ? [...new Set(options.rowIds)] : undefined;
        if (formulas.length === 0 || rowIds?.length === 0) return none;
        const table = datasetTable(datasetId);
        // Row ids are bigints: written into the text as numbers, never user text.
        const scope = options.bindOnly
          ? 'false'
          : rowIds
            ? `_row_id in (${rowIds.join(', ')})`
            : 'true';
        const computedIds = new Set(formulas.map((formula) => formula.column.id));
        const sources = [...new Set(formulas.flatMap((formula) => formula.inputs))].filter(
          (id) => !computedIds.has(id),
        );
        const input = duckdb.sandbox.tempPath('parquet');
        const outputs = formulas.map(() => duckdb.sandbox.tempPath('parquet'));
        const fileSql = (file: string) => `'${file.replaceAll("'", "''")}'`;
        // Inside the sandbox, files go by their names only.
        const local = (file: string) => fileSql(path.basename(file));
        const castOf = (formula: FormulaToCompute) =>
          `cast((\n${formula.expression}\n) as ${sqlType(formula.column.type)})`;
        const computeSql = (boxed: string, output: string) =>
          `copy (with computed as materialized (select _row_id, ${boxed} as boxed from dataset)
       select _row_id, case when big then null else boxed[1] end as value,
              case when boxed is null then 'failed' when big then 'too_large' end as outcome
       from (select _row_id, boxed,
                    coalesce(strlen(cast(boxed[1] as varchar)) > ${formulaLimits.maxValueBytes}, false) as big
             from computed)) to ${local(output)} (format parquet)`;
        /** Per formula: its failures' messages, or why it failed as a whole. */
        const outcomes: ({ failures: { rowId: string; error: string }[] } | { whole: AppError })[] =
          [];
        try {
          await duckdb.run(
            `copy (select ${['_row_id', ...sources.map(valueColumn)].join(', ')} from ${table} where ${scope}) to ${fileSql(input)} (format parquet, compression uncompressed)`,
          );
          await duckdb.sandbox
            .session(
              {
                views: [{ name: 'source', path: input }],
                writable: outputs,
                timeoutMs: formulaLimits.timeoutMs,
              },
              async (session) => {
                for (const [index, formula] of formulas.entries()) {
                  try {
                    // `dataset`: the snapshot and the formulas computed before this one.
                    const earlier = formulas.slice(0, index);
                    const columns = earlier.map((previous, at) =>
                      'whole' in outcomes[at]!
                        ? `null as ${valueColumn(previous.column.id)}`
                        : `o${at}.value as ${valueColumn(previous.column.id)}`,
                    );
                    const joins = earlier
                      .map((_, at) =>
                        'whole' in outcomes[at]!
                          ? ''
                          : ` left join read_parquet(${local(outputs[at]!)}) o${at} on o${at}._row_id = s._row_id`,
                      )
                      .join('');
                    await session.run(
                      `create or replace view dataset as select s.*${columns.map((column) => `, ${column}`).join('')} from source s${joins}`,
                    );
                    const cast = castOf(formula);
                    try {
                      await session.run(computeSql(`try([${cast}])`, outputs[index]!));
                    } catch (error) {
                      // TRY refuses volatile functions (random(), uuid(), error()): computed
                      // without it, and then one raising row fails the formula as a whole.
                      if (!(error instanceof SandboxQueryError) || !/volatile/i.test(error.message))
                        throw error;
                      await session.run(computeSql(`[${cast}]`, outputs[index]!));
                    }
                    if (options.bindOnly) {
                      outcomes.push({ failures: [] });
                      continue;
                    }
                    // The message of each of the first failures: that row alone, without TRY.
                    const failed = await session.query(
                      `select _row_id from read_parquet(${local(outputs[index]!)}) where outcome = 'failed' order by _row_id limit ${FORMULA_ERROR_MESSAGES}`,
                      { maxRows: FORMULA_ERROR_MESSAGES, maxBytes: 1024 * 1024 },
                    );
                    const failures: { rowId: string; error: string }[] = [];
                    for (const row of failed.rows) {
                      const rowId = BigInt(String(row._row_id));
                      const error = await session
                        .query(`select ${cast} as v from dataset where _row_id = ${rowId}`, {
                          maxRows: 1,
                          maxBytes: 1024,
                        })
                        .then(
                          () => FORMULA_FAILED,
                          (cause: unknown) => {
                            if (!(cause instanceof SandboxQueryError)) throw cause;
                            return formulaErrorMessage(cause, options.names);
                          },
                        );
                      failures.push({ rowId: String(rowId), error });
                    }
                    outcomes.push({ failures });
                  } catch (error) {
                    if (options.strict || options.bindOnly) throw error;
                    outcomes.push({ whole: formulaFailure(error, options.names) });
                  }
                }
              },
            )
            .catch((error: unknown) => {
              if (options.strict || options.bindOnly) throw formulaFailure(error, options.names);
              // The session itself failed: every formula not yet done fails as a whole.
              while (outcomes.length < formulas.length)
                outcomes.push({ whole: formulaFailure(error, options.names) });
            });
          if (options.bindOnly) return none;
          return await duckdb.transaction(async (connection) => {
            const results: FormulaResult[] = [];
            for (const [index, formula] of formulas.entries()) {
              const outcome = outcomes[index]!;
              const value = valueColumn(formula.column.id);
              const state = stateColumn(formula.column.id);
              if ('whole' in outcome) {
                // The formula as a whole failed: every cell in scope says why (nothing
                // throws, so the edit or row append that asked for this never answers 500).
                const reason = outcome.whole.message;
                const marked = await connection.run(
                  `update ${table} set ${value} = null, ${state} = ${errorStateSql(state, '?')} where ${scope}`,
                  [reason],
                );
                results.push({
                  failed: Number(marked.rowsChanged),
                  failures: (rowIds ?? [])
                    .slice(0, FORMULA_ERROR_MESSAGES)
                    .map((id) => ({ rowId: String(id), error: reason })),
                });
                continue;
              }
              // Only rows in scope are written, whatever the output file holds.
              const joined = `from read_parquet(${fileSql(outputs[index]!)}) o where ${table}._row_id = o._row_id and ${table}.${scope === 'true' ? '_row_id is not null' : scope}`;
              await connection.run(`update ${table} set ${value} = o.value ${joined}`);
              await connection.run(
                `update ${table} set ${state} = ${clearedStateSql(state)} ${joined} and o.outcome is null and (${table}.${state}->>'status') = 'error'`,
              );
              const marked = await connection.run(
                `update ${table} set ${state} = ${errorStateSql(state, `case o.outcome when 'too_large' then '${tooLarge(formulaLimits.maxValueBytes)}' else '${FORMULA_FAILED}' end`)} ${joined} and o.outcome is not null`,
              );
              const detailed = outcome.failures.filter(
                (failure) => failure.error !== FORMULA_FAILED,
              );
              if (detailed.length > 0)
                await connection.run(
                  `update ${table} set ${state} = json_merge_patch(${state}, json_object('error', u.error))
               from (select unnest(?::bigint[]) as row_id, unnest(${TEXT_LIST}) as error) u
               where ${table}._row_id = u.row_id`,
                  [
                    listValue(detailed.map((failure) => BigInt(failure.rowId))),
                    textList(detailed.map((failure) => failure.error)),
                  ],
                );
              results.push({
                failed: Number(marked.rowsChanged),
                failures: outcome.failures,
              });
            }
            return results;
          });
        } finally {
          await Promise.all([input, ...outputs].map((file) => rm(file, { force: true })));
        }
      },
      formulas.map((formula) => formula.column.id),
    );

  const store = {
    /** Creates the table with `rows` empty rows (ids 1…rows). */
    createTable: async (datasetId: string, columns: readonly ColumnRef[], rows = 0) => {
      await duckdb.datasets.open(datasetId, { create: true });
      return write(datasetId, () =>
        duckdb.withConnection(async (connection) => {
          const list = columns
            .flatMap((column) => [
              `null::${sqlType(column.type)} as ${valueColumn(column.id)}`,
              `null::${CELL_STATE_SQL_TYPE} as ${stateColumn(column.id)}`,
            ])
            .join(', ');
          await connection.run(
            `create table ${datasetTable(datasetId)} as select (range + 1)::bigint as _row_id${list ? `, ${list}` : ''} from range(cast(? as bigint))`,
            [BigInt(rows)],
          );
          await connection.run(`create sequence ${datasetSequence(datasetId)} start ${rows + 1}`);
          await createIndex(connection, datasetId);
        }),
      );
    },

    /**
     * Finishes a table an import created with CREATE TABLE AS (see import-reader.ts): the
     * sequence after the last id. Runs on the import's connection. The row-id index comes
     * after, in the background (indexImportedSoon).
     */
    finishImportedTable: async (
      connection: DuckDBConnection,
      datasetId: string,
      lastRowId: number,
    ) => {
      await connection.run(`create sequence ${datasetSequence(datasetId)} start ${lastRowId + 1}`);
      bump(datasetId);
    },

    /**
     * An imported table's row-id index, made in the background under the dataset's write lock,
     * then its checkpoint (which writes the index with the rows). Until then lookups by row id
     * are served by DuckDB's min/max per row group (rows are stored in `_row_id` order), so
     * the import is over ~1 s sooner at 3M rows. A server stopped in between closes after it;
     * one that crashed leaves the table without it (reads stay right) until its first open after
     * an attach, which makes it (`open` above).
     */
    indexImportedSoon: (datasetId: string) => indexSoon(datasetId),

    dropTable: async (datasetId: string) => {
      // Held (and attached, even when no table was ever made) so nobody else has it open.
      await duckdb.datasets.open(datasetId, { create: true });
      return write(datasetId, async () => {
        await dropOrderings(datasetId);
        // The file goes with the table: nothing of the dataset stays on the shared volume.
        await duckdb.datasets.remove(datasetId);
      });
    },

    /** Copies values and states; `columnMap` maps source column ids to the copy's. */
    duplicateTable: (fromId: string, toId: string, columnMap: ReadonlyMap<string, string>) =>
      locks.run(fromId, async () => {
        await Promise.all([open(fromId), duckdb.datasets.open(toId, { create: true })]);
        duckdb.datasets.checkWrite(toId);
        await duckdb.withConnection(async (connection) => {
          const list = [...columnMap].flatMap(([from, to]) => [
            `${valueColumn(from)} as ${valueColumn(to)}`,
            `${stateColumn(from)} as ${stateColumn(to)}`,
          ]);
          await connection.run(
            `create table ${datasetTable(toId)} as select _row_id${list.length ? `, ${list.join(', ')}` : ''} from ${datasetTable(fromId)} order by _row_id`,
          );
          const [row] = (
            await connection.runAndReadAll(`select nextval(${datasetSequenceName(fromId)}) as next`)
          ).getRowObjectsJS();
          await connection.run(
            `create sequence ${datasetSequence(toId)} start ${String(row!.next)}`,
          );
          await createIndex(connection, toId);
        });
      }),

    addColumn: (datasetId: string, column: ColumnRef) =>
      write(datasetId, () =>
        duckdb.transaction(async (connection) => {
          await connection.run(
            `alter table ${datasetTable(datasetId)} add column ${valueColumn(column.id)} ${sqlType(column.type)}`,
          );
          await connection.run(
            `alter table ${datasetTable(datasetId)} add column ${stateColumn(column.id)} ${CELL_STATE_SQL_TYPE}`,
          );
        }),
      ),

    /** Copies the values of one column into a new column, and its cell states with `states`. */
    copyColumnValues: (
      datasetId: string,
      fromColumnId: string,
      toColumnId: string,
      options: { states?: boolean } = {},
    ) =>
      write(
        datasetId,
        () =>
          duckdb.run(
            `update ${datasetTable(datasetId)} set ${valueColumn(toColumnId)} = ${valueColumn(fromColumnId)}${
              options.states ? `, ${stateColumn(toColumnId)} = ${stateColumn(fromColumnId)}` : ''
            }`,
          ),
        [toColumnId],
      ),

    dropColumn: (datasetId: string, columnId: string) =>
      write(datasetId, async () => {
        await dropOrderings(datasetId);
        await alterWithoutIndex(datasetId, [
          `alter table ${datasetTable(datasetId)} drop column ${valueColumn(columnId)}`,
          `alter table ${datasetTable(datasetId)} drop column ${stateColumn(columnId)}`,
        ]);
      }),

    /**
     * Casts a column to a new type. Cells whose value does not convert become empty with
     * status `error` and their old text in `state.raw`: reported, and nothing lost.
     */
    changeColumnType: (datasetId: string, columnId: string, to: ColumnType, reportLimit = 100) =>
      write(datasetId, async (): Promise<TypeChangeResult> => {
        await dropOrderings(datasetId);
        const table = datasetTable(datasetId);
        const value = valueColumn(columnId);
        const state = stateColumn(columnId);
        const target = sqlType(to);
        const failing = `${value} is not null and try_cast(${value} as ${target}) is null`;
        const [{ failed }] = (await duckdb.query<{ failed: bigint }>(
          `select count(*) as failed from ${table} where ${failing}`,
        )) as [{ failed: bigint }];
        const failures = await duckdb.query<{ _row_id: bigint; raw: string }>(
          `select _row_id, cast(${value} as varchar) as raw from ${table} where ${failing} order by _row_id limit ${reportLimit}`,
        );
        const errorState = errorStateSql(state, '?', `cast(${value} as varchar)`);
        // DuckDB refuses an ALTER after an UPDATE of the same table in one transaction: the
        // failing cells keep their text in state.raw first, then the column changes type.
        if (Number(failed) > 0)
          await duckdb.run(`update ${table} set ${state} = ${errorState} where ${failing}`, [
            conversionError(to),
          ]);
        await alterWithoutIndex(datasetId, [
          `alter table ${table} alter ${value} type ${target} using try_cast(${value} as ${target})`,
        ]);

        return {
          failed: Number(failed),
          failures: failures.map((row) => ({ rowId: String(row._row_id), raw: row.raw })),
        };
      }),

    /** Appends rows; returns their new ids in order. Values are validated against column types. */
    appendRows: (
      datasetId: string,
      columns: readonly ColumnRef[],
      rows: readonly Record<string, CellValue>[],
    ) =>
      write(datasetId, async () => {
        if (rows.length === 0) return [] as string[];
        const inserted = await duckdb.query<{ _row_id: bigint }>(
          ...insertStatement(datasetId, columns, rows),
        );
        return inserted.map((row) => String(row._row_id));
      }),

    /**
     * A staged write (an `extract` step's rows, added as its documents finish): rows go in parts
     * to a table of the in-memory cache catalog — never the dataset's file, so no read of the
     * dataset sees them and a stopped process leaves none behind — with their values checked
     * and converted as they come. `replace` then moves them into the dataset in one transaction
     * under its lock: the rows holding a staged row's `key` are deleted (read inside the write,
     * so no other writer's row can survive beside its replacement, nor be lost) and the staged
     * rows inserted in their `order`; it answers the new ids in that order and those deleted.
     * `drop` removes the table (after `replace`, or instead of it).
     */
    stage: (datasetId: string, columns: readonly ColumnRef[]) => {
      const name = identifierFor('tmp', uuidv7());
      const table = `${CACHE_DB}.${quoteIdentifier(name)}`;
      const targets = columns.map((column) => valueColumn(column.id));
      let created: Promise<unknown> | undefined;
      const create = () => {
        created ??= ensureCache().then(() =>
          duckdb.run(
            `create table ${table} (_order bigint${columns.map((column) => `, ${valueColumn(column.id)} ${sqlType(column.type)}`).join('')})`,
          ),
        );
        return created;
      };
      return {
        add: async (rows: readonly Record<string, CellValue>[], order: readonly number[]) => {
          if (rows.length === 0) return;
          const { lists, casts, unnests } = valueLists(columns, rows);
          await create();
          await duckdb.run(
            `insert into ${table} (_order${targets.map((target) => `, ${target}`).join('')}) select o${casts.map((cast) => `, ${cast}`).join('')} from (select unnest(?::bigint[]) as o${unnests.map((unnest) => `, ${unnest}`).join('')}) u`,
            [listValue(order.map((index) => BigInt(index))), ...lists],
          );
        },
        replace: (key: ColumnRef) =>
          write(datasetId, async () => {
            if (!columns.some((column) => column.id === key.id))
              throw new TypeError('the key is not a staged column');
            await create();
            return duckdb.transaction(async (connection) => {
              const dataset = datasetTable(datasetId);
              const deleted = (
                await connection.runAndReadAll(
                  `delete from ${dataset} where ${valueColumn(key.id)} in (select ${valueColumn(key.id)} from ${table}) returning _row_id`,
                )
              ).getRowObjectsJS();
              const inserted = (
                await connection.runAndReadAll(
                  `insert into ${dataset} (_row_id${targets.map((target) => `, ${target}`).join('')}) select nextval(${datasetSequenceName(datasetId)})${targets.map((target) => `, ${target}`).join('')} from (select * from ${table} order by _order) returning _row_id`,
                )
              ).getRowObjectsJS();
              return {
                rowIds: inserted.map((row) => String(row._row_id)),
                deleted: deleted.map((row) => String(row._row_id)),
              };
            });
          }),
        drop: async () => {
          if (created) await dropCacheTable(name);
        },
      };
    },

    /** Deletes many rows in one statement; no other row changes (ids are never renumbered). */
    deleteRows: (datasetId: string, rowIds: readonly bigint[]) =>
      write(datasetId, async () => {
        if (rowIds.length === 0) return 0;
        return duckdb.run(
          `delete from ${datasetTable(datasetId)} where _row_id in (select unnest(?::bigint[]))`,
          [listValue([...rowIds])],
        );
      }),

    /**
     * Writes cells of one column if each cell's version is still the one the writer saw.
     * Under the dataset lock: read versions, decide, write the winners in one statement.
     * A loser gets the current value and version back (the API answers 409 with them).
     */
    compareAndSetCells: (datasetId: string, column: ColumnRef, writes: readonly CellWrite[]) =>
      write(datasetId, async (): Promise<CompareAndSetResult> => {
        if (writes.length === 0) return { applied: [], conflicts: [] };
        const current = await rowsByIds(
          datasetId,
          [column],
          writes.map((entry) => entry.rowId),
        );
        const plan = planWrites(column, writes, current, new Date().toISOString());
        if (plan.accepted.length > 0) {
          const changed = await duckdb.run(
            updateSql(datasetId, column),
            updateParams(plan.accepted),
          );
          // Nobody else writes this dataset while we hold its lock; a mismatch is a bug.
          if (changed !== plan.accepted.length)
            throw conflict('Cells changed during a compare-and-set');
        }
        return planResult(plan);
      }, [column.id]),

    /**
     * Compare-and-set over several columns at once (a paste), in one DuckDB transaction under
     * the dataset lock. A write without `expectedVersion` overwrites whatever is there. If any
     * listed row does not exist, nothing is written and the missing ids come back.
     */
    compareAndSetMany: (datasetId: string, groups: readonly ColumnWrites[]) =>
      write(
        datasetId,
        async (): Promise<BulkCompareAndSetResult> => {
          const rowIds = new Map<string, bigint>();
          for (const group of groups)
            for (const entry of group.writes) rowIds.set(entry.rowId.toString(), entry.rowId);
          if (rowIds.size === 0) return { columns: [], missing: [] };
          const current = await rowsByIds(
            datasetId,
            groups.map((group) => group.column),
            [...rowIds.values()],
          );
          const missing = [...rowIds.keys()].filter((id) => !current.has(id));
          if (missing.length > 0) return { columns: [], missing };
          const now = new Date().toISOString();
          const plans = groups.map((group) => ({
            column: group.column,
            plan: planWrites(group.column, group.writes, current, now),
          }));
          await duckdb.transaction(async (connection) => {
            for (const { column, plan } of plans) {
              if (plan.accepted.length === 0) continue;
              const result = await connection.run(
                updateSql(datasetId, column),
                updateParams(plan.accepted),
              );
              if (Number(result.rowsChanged) !== plan.accepted.length)
                throw conflict('Cells changed during a compare-and-set');
            }
          });
          return {
            columns: plans.map(({ column, plan }) => ({
              columnId: column.id,
              ...planResult(plan),
            })),
            missing: [],
          };
        },
        groups.map((group) => group.column.id),
      ),

    /**
     * Recomputes a formula column from a checked DuckDB expression (sheet-formula.ts), for the
     * given rows or all, set-based, in the SQL sandbox: the rows' ids and the formula's input
     * columns (nothing else) go to a Parquet file, a sandbox process computes the values into
     * another, and they are written back under the dataset's lock, so an edit made meanwhile
     * waits for them and recomputes after (docs/security.md#the-sql-sandbox).
     *   - A row whose expression (or its cast to the column's type) raises an error gets NULL
     *     and status `error` with DuckDB's message; a NULL the expression returns on its own
     *     (NULL inputs, `try_cast`) is a value, not an error. A value larger than
     *     `maxValueBytes` is an error saying so.
     *   - A failure of the formula as a whole (it does not bind, a volatile function raised,
     *     the time or memory limit): `strict` throws (nothing is written); otherwise every cell
     *     in scope becomes an error with the reason, so the write that triggered it never fails.
     *   - `bindOnly`: computes over no rows and writes nothing (a check that the formula binds
     *     to the inputs' types).
     * See docs/sheets.md#formula-columns.
     */
    recomputeFormula: async (
      datasetId: string,
      column: ColumnRef,
      expression: string,
      options: FormulaOptions & {
        /** Column ids the expression reads. */
        inputs: readonly string[];
      },
    ): Promise<FormulaResult> =>
      (
        await recomputeFormulas(
          datasetId,
          [{ column, expression, inputs: options.inputs }],
          options,
        )
      )[0]!,

    /**
     * Several formula columns of one dataset, in the order given (a formula may read those
     * before it), in one sandbox session over one snapshot of their other inputs.
     */
    recomputeFormulas: (
      datasetId: string,
      formulas: readonly FormulaToCompute[],
      options: FormulaOptions = {},
    ) => recomputeFormulas(datasetId, formulas, options),

    readCells: async (
      datasetId: string,
      columns: readonly ColumnRef[],
      rowIds: readonly bigint[],
    ) => {
      await open(datasetId);
      return rowsByIds(datasetId, columns, rowIds);
    },

    rowCount: async (datasetId: string) => {
      await open(datasetId);
      const [row] = await duckdb.query<{ n: bigint }>(
        `select count(*) as n from ${datasetTable(datasetId)}`,
      );
      return Number(row?.n ?? 0);
    },

    /**
     * A window of rows in any order and filter. Ordinals are computed: from the offset, or
     * (keyset) by counting the matching rows before the cursor. Large views read a range of
     * ids (default order without gaps), or go through a cached ordering (row ids by position):
     * default order reads the rows between the window's first and last id, sorted views read
     * the ordering's copy of the values (docs/sheets.md#reading). Never a sort per window.
     */
    window: async (
      datasetId: string,
      all: readonly ColumnRef[],
      query: WindowQuery,
    ): Promise<WindowResult> => {
      await open(datasetId);
      const byId = new Map(all.map((column) => [column.id, column]));
      const columns = query.columns
        ? query.columns.map((id) => {
            const column = byId.get(id);
            if (!column)
              throw validationError(`Unknown column ${id}`, [
                { path: 'columns', message: 'unknown column' },
              ]);
            return column;
          })
        : all;
      const where = whereClause(byId, query.filters, query.search);
      const order = orderClause(byId, query.sort);
      const table = datasetTable(datasetId);
      const list = columns.length > 0 ? `, ${selectList(columns)}` : '';
      /** Rows read with `list`, the first at position `skipped` + 1. */
      const windowOf = (
        total: number,
        skipped: number,
        rows: Record<string, unknown>[],
      ): WindowResult => ({
        total,
        rows: rows.map((row, index) => ({
          rowId: String(row._row_id),
          ordinal: skipped + index + 1,
          cells: readRow(columns, row),
        })),
      });

      if (query.afterRowId !== undefined) {
        if (query.sort.length > 0)
          throw validationError('afterRowId pages only the default order; use offset with sort');
        const after = BigInt(query.afterRowId);
        const [counts] = await duckdb.query<{ total: bigint; before: bigint }>(
          `select count(*) as total, count(*) filter (where _row_id <= ?) as before from ${table} where ${where.sql}`,
          [after, ...where.params],
        );
        const rows = await duckdb.query(
          `select _row_id${list} from ${table} where _row_id > ? and ${where.sql} order by _row_id limit ${query.limit}`,
          [after, ...where.params],
        );
        return windowOf(Number(counts?.total ?? 0), Number(counts?.before ?? 0), rows);
      }

      const referenced = [
        ...query.sort.map((key) => key.columnId),
        ...query.filters.map((filter) => filter.columnId),
        ...(query.search
          ? all
              .filter((column) => column.type === 'text' || column.type === 'json')
              .map((column) => column.id)
          : []),
      ];
      const version = signature(datasetId, referenced);
      const key = JSON.stringify([datasetId, where, order]);
      // A fresh cached ordering knows the total: no count(*) scan per window.
      const cached = orderings.get(key);
      const defaultOrder = query.sort.length === 0;
      const everyRow = defaultOrder && where.sql === 'true';
      let total: number;
      if (everyRow) {
        const span = await idSpan(datasetId);
        total = span.total;
        if (query.offset > 0 && span.high - span.low + 1n === BigInt(span.total)) {
          // No gaps in the ids (no row deleted since the table was filled): the window is a
          // range of ids, read without any ordering.
          const first = span.low + BigInt(query.offset);
          const rows = await duckdb.query(
            `select _row_id${list} from ${table} where _row_id between ${first} and ${first + BigInt(query.limit - 1)} order by _row_id`,
          );
          return windowOf(total, query.offset, rows);
        }
      } else if (cached && cached.version === version) total = cached.total;
      else {
        const [count] = await duckdb.query<{ n: bigint }>(
          `select count(*) as n from ${table} where ${where.sql}`,
          where.params,
        );
        total = Number(count?.n ?? 0);
      }
      if (total <= threshold || (defaultOrder && query.offset === 0)) {
        const rows = await duckdb.query(
          `select _row_id${list} from ${table} where ${where.sql} order by ${order} limit ${query.limit} offset ${query.offset}`,
          where.params,
        );
        return windowOf(total, query.offset, rows);
      }

      await ensureCache();
      let ordering = orderings.get(key);
      if (ordering && ordering.version !== version) {
        await forgetOrdering(key, ordering);
        ordering = undefined;
      }
      if (!ordering) {
        const name = identifierFor('tmp', uuidv7());
        await duckdb.run(
          `create table ${CACHE_DB}.${quoteIdentifier(name)} as select row_number() over (order by ${order}) as ord, _row_id from ${table} where ${where.sql} order by ord`,
          where.params,
        );
        ordering = { table: name, total, version, datasetId, copied: undefined, cells: 0 };
        orderings.set(key, ordering);
        while (orderings.size > SORTED_WINDOW_CACHE_ENTRIES) {
          const [oldestKey, oldest] = orderings.entries().next().value!;
          await forgetOrdering(oldestKey, oldest);
        }
        const cells = total * all.length;
        if (!defaultOrder && cells > 0 && cells <= materializeBudget)
          copyValues(key, ordering, all, cells);
      } else {
        // Most recently used last.
        orderings.delete(key);
        orderings.set(key, ordering);
      }
      const cacheTable = `${CACHE_DB}.${quoteIdentifier(ordering.table)}`;
      // Literal bounds (integers we computed): a prepared parameter costs DuckDB ~0.5 ms more.
      const span = `ord between ${query.offset + 1} and ${query.offset + query.limit}`;

      if (defaultOrder) {
        // The table is stored in _row_id order: the window is every matching row between the
        // first and last id of its span, one contiguous read.
        const [bounds] = await duckdb.query<{ low: bigint | null; high: bigint | null }>(
          `select min(_row_id) as low, max(_row_id) as high from ${cacheTable} where ${span}`,
        );
        if (bounds?.low == null || bounds.high == null) return windowOf(ordering.total, 0, []);
        const rows = await duckdb.query(
          `select _row_id${list} from ${table} where _row_id between ? and ? and ${where.sql} order by _row_id limit ${query.limit}`,
          [bounds.low, bounds.high, ...where.params],
        );
        return windowOf(ordering.total, query.offset, rows);
      }

      const counters = countersOf(datasetId);
      const copied = ordering.copy ? ordering.copied : undefined;
      const viewTable = ordering.copy
        ? `${CACHE_DB}.${quoteIdentifier(ordering.copy)}`
        : cacheTable;
      const clean = copied
        ? columns.filter(
            (column) => copied.get(column.id) === (counters.columns.get(column.id) ?? 0),
          )
        : [];
      const dirty = columns.filter((column) => !clean.includes(column));
      const windowRows = await duckdb.query(
        `select _row_id${clean.length > 0 ? `, ${selectList(clean)}` : ''} from ${viewTable} where ${span} order by ord`,
      );
      const rowIds = windowRows.map((row) => row._row_id as bigint);
      const fresh = dirty.length > 0 ? await rowsByIds(datasetId, dirty, rowIds) : undefined;
      const found = windowRows.flatMap((row) => {
        const rowId = String(row._row_id);
        if (!fresh) return [{ rowId, cells: readRow(clean, row) }];
        const rest = fresh.get(rowId);
        // A row deleted since the ordering was read: the next window re-reads the ordering.
        return rest ? [{ rowId, cells: { ...readRow(clean, row), ...rest } }] : [];
      });
      return {
        total: ordering.total,
        rows: found.map((row, index) => ({ ...row, ordinal: query.offset + index + 1 })),
      };
    },

    /** Runs work holding the dataset's write lock (imports into an existing table, formulas). */
    withWriteLock: <T>(datasetId: string, work: () => Promise<T>) => write(datasetId, work),
    /** Forget cached orderings (tests, shutdown). */
    clearCache: async () => {
      await store.copiesSettled();
      await dropOrderings();
    },
    /** Resolves when the sorted views' background value copies under way have finished. */
    copiesSettled: async () => {
      while (copying.size > 0) await Promise.all([...copying]);
    },
  };
  return store;
}

export type SheetDataStore = ReturnType<typeof createSheetDataStore>;
