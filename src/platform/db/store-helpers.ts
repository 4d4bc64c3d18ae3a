import type { Kysely, Selectable, SelectQueryBuilder, Updateable } from 'kysely';
import type { DB } from '../../migrations/db-schema.ts';
import type { Executor } from './database.ts';

/**
 * Small patterns several stores share, each with one meaning: the rows whose key columns equal
 * given values (read, changed or deleted), a time set once (a revoke, a one-time use, a warning
 * sent once) and a time refreshed at most every so often (last seen, last used). Queries with
 * joins, ranges or aggregates stay in the stores; these exist because the rules inside them
 * (a match never widened by a missing value, the `is null` guard that makes a racing second
 * caller lose, the granularity that spares a write per read) must be the same everywhere.
 */
type Table = keyof DB & string;
type Row<T extends Table> = Selectable<DB[T]>;

/** Columns of `T` that hold a time, optional or not (`revoked_at`, `last_seen_at`). */
type TimeColumn<T extends Table> = {
  [K in keyof Row<T>]: Row<T>[K] extends Date | null ? K : never;
}[keyof Row<T>] &
  string;

/** The rows a helper touches: each column equal to its value (`null`: is null). */
type Match<T extends Table> = Partial<Row<T>>;

// The helpers build their query over untyped table and column names: the generic signatures
// above are what check them against the schema.
type AnyDb = Kysely<Record<string, Record<string, unknown>>>;

/** What a match needs of a query builder: conditions, each returning the builder. */
interface Filterable<Q> {
  where(column: string, operator: '=' | 'is', value: unknown): Q;
}

/** `query` narrowed to the rows matching `match` (each column equal, `null`: is null). */
function whereMatching<Q extends Filterable<Q>>(query: Q, table: string, match: object): Q {
  const entries = Object.entries(match);
  // An empty match would reach every row of the table, an undefined value would drop its
  // condition and widen the query: both are a caller's bug.
  if (entries.length === 0) throw new Error(`query of ${table} without a row to match`);
  let filtered = query;
  for (const [key, value] of entries) {
    if (value === undefined) {
      throw new Error(`query of ${table} without a row to match (${key} is undefined)`);
    }
    filtered = value === null ? filtered.where(key, 'is', null) : filtered.where(key, '=', value);
  }
  return filtered;
}

/** An update of `values` on the rows matching `match`. */
function updateMatching<T extends Table>(
  db: Executor,
  table: T,
  values: Record<string, unknown>,
  match: Match<T>,
) {
  return whereMatching(
    (db as unknown as AnyDb).updateTable(table as string).set(values),
    table,
    match,
  );
}

/**
 * Every column of the rows matching `match`; the caller adds what else the read needs (a range,
 * an order, a lock), so the builder is typed for `table`.
 */
export function selectMatching<T extends Table>(db: Executor, table: T, match: Match<T>) {
  const query = (db as unknown as AnyDb).selectFrom(table as string).selectAll();
  return whereMatching(query, table, match) as unknown as SelectQueryBuilder<DB, T, Row<T>>;
}

/** Sets `values` on the rows matching `match`; returns the first changed row as it now is. */
export async function updateMatchingRow<T extends Table>(
  db: Executor,
  table: T,
  values: Updateable<DB[T]>,
  match: Match<T>,
): Promise<Row<T> | undefined> {
  const row = await updateMatching(db, table, values as Record<string, unknown>, match)
    .returningAll()
    .executeTakeFirst();
  return row as Row<T> | undefined;
}

/** Sets `values` on the rows matching `match`; returns how many it changed. */
export async function updateMatchingRows<T extends Table>(
  db: Executor,
  table: T,
  values: Updateable<DB[T]>,
  match: Match<T>,
): Promise<number> {
  const result = await updateMatching(
    db,
    table,
    values as Record<string, unknown>,
    match,
  ).executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Deletes the rows matching `match`; returns how many it deleted. */
export async function deleteMatching<T extends Table>(
  db: Executor,
  table: T,
  match: Match<T>,
): Promise<number> {
  const query = (db as unknown as AnyDb).deleteFrom(table as string);
  const result = await whereMatching(query, table, match).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Sets `column` to `at` on the matching rows where it is still null; returns how many it set.
 * Of two callers racing for the same row exactly one gets 1 (the second finds it set).
 */
export async function stampOnce<T extends Table>(
  db: Executor,
  table: T,
  column: TimeColumn<T>,
  at: Date,
  match: Match<T>,
): Promise<number> {
  const result = await updateMatching(db, table, { [column]: at }, match)
    .where(column, 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * {@link stampOnce} for the callers that ask one thing: true when this call set the time, false
 * when no row matched or it was set before (a second revoke, a code already used).
 */
export async function stampFirst<T extends Table>(
  db: Executor,
  table: T,
  column: TimeColumn<T>,
  at: Date,
  match: Match<T>,
): Promise<boolean> {
  return (await stampOnce(db, table, column, at, match)) > 0;
}

/**
 * Sets `column` to `now` on the matching rows unless it was set less than `granularityMs`
 * before: activity recorded at most once per period, so reads do not each cost a write.
 */
export async function touchAtMostEvery<T extends Table>(
  db: Executor,
  table: T,
  column: TimeColumn<T>,
  now: Date,
  granularityMs: number,
  match: Match<T>,
): Promise<void> {
  const name: string = column;
  const cutoff = new Date(now.getTime() - granularityMs);
  await updateMatching(db, table, { [name]: now }, match)
    .where((eb) => eb.or([eb(name, 'is', null), eb(name, '<', cutoff)]))
    .execute();
}
