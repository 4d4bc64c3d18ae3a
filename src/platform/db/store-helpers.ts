import type { Kysely, Selectable } from 'kysely';
import type { DB } from '../../migrations/db-schema.ts';
import type { Executor } from './database.ts';

/**
 * Small write patterns several stores share, each with one meaning: a time set once (a revoke,
 * a one-time use, a warning sent once) and a time refreshed at most every so often (last seen,
 * last used). Plain queries stay in the stores; these exist because the rule inside them (the
 * `is null` guard that makes a racing second caller lose, the granularity that spares a write
 * per read) must be the same everywhere.
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

/** An update of `values` on the rows matching `match` (each column equal, `null`: is null). */
function updateMatching<T extends Table>(
  db: Executor,
  table: T,
  values: Record<string, unknown>,
  match: Match<T>,
) {
  const entries = Object.entries(match).filter(([, value]) => value !== undefined);
  // An empty match would write every row of the table.
  if (entries.length === 0) throw new Error(`update of ${table} without a row to match`);
  let query = (db as unknown as AnyDb).updateTable(table as string).set(values);
  for (const [key, value] of entries) {
    query = value === null ? query.where(key, 'is', null) : query.where(key, '=', value);
  }
  return query;
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
