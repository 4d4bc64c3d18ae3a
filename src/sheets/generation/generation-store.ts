import {
  type Insertable,
  type Kysely,
  type Selectable,
  sql,
  type Transaction,
  type Updateable,
} from 'kysely';
import type { DB, GenerationProcessTable, GenerationRunTable } from '../../migrations/db-schema.ts';
import type { SearchSource } from './search/search-provider.ts';

export type ProcessRow = Selectable<GenerationProcessTable>;
export type RunRow = Selectable<GenerationRunTable>;
export type RunStatus = RunRow['status'];
type Executor = Kysely<DB> | Transaction<DB>;

/** Statuses in which a run may still do work. */
export const ACTIVE_STATUSES = ['queued', 'running', 'paused'] as const;
export const TERMINAL_STATUSES = ['cancelled', 'completed', 'failed'] as const;

/** Counters a runner adds to its run (deltas since its last save). */
export interface RunCounters {
  done: number;
  errors: number;
  conflicts: number;
  cacheHits: number;
  searchFailures: number;
  duplicates: number;
  inputTokens: number;
  outputTokens: number;
  costNano: number;
  activeMs: number;
}

/** Generation metadata in PostgreSQL: rows in, rows out. Access checks live in the service. */
export function createGenerationStore(db: Kysely<DB>) {
  return {
    db,
    transaction: <T>(work: (trx: Transaction<DB>) => Promise<T>) => db.transaction().execute(work),

    insertProcess: (row: Insertable<GenerationProcessTable>, executor: Executor = db) =>
      executor
        .insertInto('generation_process')
        .values(row)
        .returningAll()
        .executeTakeFirstOrThrow(),

    findProcessByColumn: (columnId: string) =>
      db
        .selectFrom('generation_process')
        .selectAll()
        .where('column_id', '=', columnId)
        .executeTakeFirst(),

    listProcesses: (datasetId: string) =>
      db.selectFrom('generation_process').selectAll().where('dataset_id', '=', datasetId).execute(),

    updateProcess: (
      processId: string,
      changes: Updateable<GenerationProcessTable>,
      executor: Executor = db,
    ) =>
      executor
        .updateTable('generation_process')
        .set({ ...changes, updated_at: sql`now()` })
        .where('id', '=', processId)
        .returningAll()
        .executeTakeFirstOrThrow(),

    insertRun: (row: Insertable<GenerationRunTable>, executor: Executor = db) =>
      executor.insertInto('generation_run').values(row).returningAll().executeTakeFirstOrThrow(),

    findRun: (runId: string) =>
      db.selectFrom('generation_run').selectAll().where('id', '=', runId).executeTakeFirst(),

    listRuns: (datasetId: string, options: { columnId?: string; limit?: number } = {}) => {
      let query = db.selectFrom('generation_run').selectAll().where('dataset_id', '=', datasetId);
      if (options.columnId) query = query.where('column_id', '=', options.columnId);
      return query
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(options.limit ?? 50)
        .execute();
    },

    /** The column-wide run in progress on a column, if any. */
    findActiveRun: (columnId: string) =>
      db
        .selectFrom('generation_run')
        .selectAll()
        .where('column_id', '=', columnId)
        .where('status', 'in', [...ACTIVE_STATUSES])
        .where('mode', '<>', 'cells')
        .executeTakeFirst(),

    /** Runs of these columns that may still do work (any mode, awaiting confirmation too). */
    listActiveRuns: async (columnIds: readonly string[]) =>
      columnIds.length === 0
        ? []
        : db
            .selectFrom('generation_run')
            .selectAll()
            .where('column_id', 'in', [...columnIds])
            .where('status', 'in', [...ACTIVE_STATUSES, 'awaiting-confirmation'])
            .execute(),

    updateRun: (runId: string, changes: Updateable<GenerationRunTable>, executor: Executor = db) =>
      executor
        .updateTable('generation_run')
        .set({ ...changes, updated_at: sql`now()` })
        .where('id', '=', runId)
        .returningAll()
        .executeTakeFirst(),

    /** Changes a run only if it is in one of `from` (a compare-and-set on its status). */
    transitionRun: (
      runId: string,
      from: readonly RunStatus[],
      changes: Updateable<GenerationRunTable>,
    ) =>
      db
        .updateTable('generation_run')
        .set({ ...changes, updated_at: sql`now()` })
        .where('id', '=', runId)
        .where('status', 'in', [...from])
        .returningAll()
        .executeTakeFirst(),

    /**
     * Adds a runner's counters to its run, only while this process holds the run's durable
     * lease (a worker that lost it must not count twice); undefined when it does not.
     */
    addCounters: (runId: string, owner: string, delta: RunCounters) =>
      db
        .updateTable('generation_run')
        .set({
          done: sql`done + ${delta.done}`,
          errors: sql`errors + ${delta.errors}`,
          conflicts: sql`conflicts + ${delta.conflicts}`,
          cache_hits: sql`cache_hits + ${delta.cacheHits}`,
          search_failures: sql`search_failures + ${delta.searchFailures}`,
          duplicates: sql`duplicates + ${delta.duplicates}`,
          input_tokens: sql`input_tokens + ${delta.inputTokens}`,
          output_tokens: sql`output_tokens + ${delta.outputTokens}`,
          cost_nano: sql`cost_nano + ${delta.costNano}`,
          active_ms: sql`active_ms + ${delta.activeMs}`,
          updated_at: sql`now()`,
        })
        .where('id', '=', runId)
        .where(({ exists, selectFrom }) =>
          exists(
            selectFrom('durable_run')
              .select('durable_run.id')
              .whereRef('durable_run.id', '=', 'generation_run.durable_run_id')
              .where('durable_run.lease_owner', '=', owner),
          ),
        )
        .returningAll()
        .executeTakeFirst(),

    /** Rows this run has finished (written, errored or lost to a user edit). */
    addRunCells: async (runId: string, rowIds: readonly string[]) => {
      if (rowIds.length === 0) return;
      await sql`
        insert into generation_run_cell (run_id, row_id)
        select ${runId}::uuid, unnest(${sql.val(rowIds)}::bigint[])
        on conflict do nothing
      `.execute(db);
    },

    listRunCells: async (runId: string) => {
      const rows = await db
        .selectFrom('generation_run_cell')
        .select('row_id')
        .where('run_id', '=', runId)
        .execute();
      return new Set(rows.map((row) => String(row.row_id)));
    },

    countRunCells: async (runId: string) => {
      const row = await db
        .selectFrom('generation_run_cell')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('run_id', '=', runId)
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    },

    deleteRunCells: (runId: string) =>
      db.deleteFrom('generation_run_cell').where('run_id', '=', runId).execute(),

    getSearchCache: async (key: string) => {
      const row = await db
        .selectFrom('generation_search_cache')
        .selectAll()
        .where('key', '=', key)
        .executeTakeFirst();
      return row
        ? {
            provider: row.provider,
            results: row.results as SearchSource[],
            createdAt: new Date(row.created_at),
          }
        : undefined;
    },

    putSearchCache: async (key: string, provider: string, results: readonly SearchSource[]) => {
      await db
        .insertInto('generation_search_cache')
        .values({ key, provider, results: JSON.stringify(results) })
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet({ provider, results: JSON.stringify(results), created_at: sql`now()` }),
        )
        .execute();
    },

    pruneSearchCache: (olderThan: Date) =>
      db.deleteFrom('generation_search_cache').where('created_at', '<', olderThan).execute(),
  };
}

export type GenerationStore = ReturnType<typeof createGenerationStore>;
