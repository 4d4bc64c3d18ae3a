import type { PriceChange } from '../llm/llm-price-admin.ts';
import type { PriceOverride } from '../llm/llm-price-store.ts';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import type { JobQueue } from '../platform/jobs/job-queue.ts';
import { type CostBasis, priceUsage } from './monitor-cost.ts';
import type { UsageRow } from './monitor-records.ts';
import { ROLLUP_REFRESH_SQL } from './monitor-tables.ts';

/** The job that prices a model's stored events again after a price override changed. */
export const REPRICE_JOB = 'monitor.reprice';

export interface RepriceRequest {
  projectId: string;
  model: string;
  /** Events from this moment on (the override's `validFrom`); all of the model's when absent. */
  since?: Date | undefined;
}

export interface RepriceResult {
  /** Events of the model read (a reported cost is kept, so those are not read). */
  events: number;
  /** Events whose cost or basis changed. */
  changed: number;
}

/** Rows updated per statement (three parameters each). */
const CHUNK = 500;

/**
 * Prices a project's stored usage events of one model again with its current overrides
 * (docs/monitor.md "Cost"): the same `priceUsage` an import uses, so an event priced now reads
 * what it would have read had the override existed when its file was imported. A cost the log
 * reported stays. The changed events and the rollup rows of their sessions are written in one
 * DuckDB transaction, so reports never see new event costs beside old totals; running it
 * twice changes nothing the second time.
 */
export async function repriceUsage(
  duckdb: DuckDb,
  request: RepriceRequest,
  overrides: readonly PriceOverride[],
): Promise<RepriceResult> {
  const { projectId, model, since } = request;
  return duckdb.transaction(async (connection) => {
    const params: (string | null)[] = [projectId, model];
    if (since) params.push(since.toISOString());
    const read = await connection.runAndReadAll(
      `select rowid as rid, session_key, epoch_ms(ts) as ts_ms, provider, model, input, output,
         reasoning, cache_read, cache_write, cache_write_1h, reported_cost_nano, cost_nano,
         cost_basis
       from monitor_usage_event
       where project_id = $1 and model = $2 and cost_basis <> 'reported'
         ${since ? 'and ts >= $3::timestamptz' : ''}`,
      params,
    );
    const rows = read.getRowObjectsJS();
    const changed: { rid: bigint; costNano: number | null; basis: CostBasis; session: string }[] =
      [];
    for (const row of rows) {
      const num = (value: unknown) => (value === null ? 0 : Number(value));
      const event = {
        ts: row.ts_ms === null ? null : new Date(Number(row.ts_ms)),
        provider: row.provider === null ? null : String(row.provider),
        model: String(row.model),
        input: num(row.input),
        output: num(row.output),
        reasoning: num(row.reasoning),
        cacheRead: num(row.cache_read),
        cacheWrite: num(row.cache_write),
        cacheWrite1h: num(row.cache_write_1h),
        reportedCostNano: row.reported_cost_nano === null ? null : Number(row.reported_cost_nano),
      } as UsageRow;
      const priced = priceUsage(event, overrides);
      const before = row.cost_nano === null ? null : Number(row.cost_nano);
      if (priced.costNano === before && priced.basis === row.cost_basis) continue;
      changed.push({
        rid: BigInt(row.rid as bigint),
        costNano: priced.costNano,
        basis: priced.basis,
        session: String(row.session_key),
      });
    }
    for (let start = 0; start < changed.length; start += CHUNK) {
      const chunk = changed.slice(start, start + CHUNK);
      const values = chunk
        .map(
          (_, index) =>
            `($${3 * index + 1}::bigint, $${3 * index + 2}::bigint, $${3 * index + 3}::varchar)`,
        )
        .join(', ');
      await connection.run(
        `update monitor_usage_event set cost_nano = r.cost_nano, cost_basis = r.cost_basis
         from (values ${values}) r(rid, cost_nano, cost_basis)
         where monitor_usage_event.rowid = r.rid`,
        chunk.flatMap((entry) => [
          entry.rid,
          entry.costNano === null ? null : BigInt(entry.costNano),
          entry.basis,
        ]),
      );
    }
    const sessions = [...new Set(changed.map((entry) => entry.session))];
    if (sessions.length > 0) {
      await connection.run(
        'create or replace temp table monitor_rollup_keys (session_key varchar)',
      );
      for (let start = 0; start < sessions.length; start += CHUNK) {
        const chunk = sessions.slice(start, start + CHUNK);
        await connection.run(
          `insert into monitor_rollup_keys values ${chunk.map((_, index) => `($${index + 1})`).join(', ')}`,
          chunk,
        );
      }
      for (const statement of ROLLUP_REFRESH_SQL) await connection.run(statement, [projectId]);
      await connection.run('drop table monitor_rollup_keys');
    }
    return { events: rows.length, changed: changed.length };
  });
}

/**
 * Wires repricing: each price override set or removed queues a `monitor.reprice` job for its
 * model from its `validFrom` on, and the job (run as the system) prices those events again.
 * A change made where the queue does not run (an API-only node sends to the shared queue; a
 * process without one logs it) is not lost silently.
 */
/** See registerRepriceJob: a minute of tries, every 3 s. */
export const REPRICE_RETRY = { retryLimit: 20, retryDelay: 3 } as const;

export function registerRepriceJob(deps: {
  jobs: Pick<JobQueue, 'register' | 'send'>;
  prices: { onPriceChange(listener: (change: PriceChange) => void): void };
  monitor: () => {
    repriceJob(request: {
      projectId: string;
      model: string;
      since?: Date | undefined;
    }): Promise<RepriceResult>;
  };
  log: { warn(object: object, message: string): void };
}): void {
  deps.jobs.register<{ projectId: string; model: string; since: string }>({
    name: REPRICE_JOB,
    concurrency: 1,
    // On the server holding the project's monitor file (asked there when another one does).
    handler: (job) =>
      deps.monitor().repriceJob({
        projectId: job.data.projectId,
        model: job.data.model,
        since: new Date(job.data.since),
      }),
  });
  deps.prices.onPriceChange((change) => {
    void deps.jobs
      .send(
        REPRICE_JOB,
        {
          projectId: change.projectId,
          model: change.model,
          since: change.validFrom.toISOString(),
        },
        // With several servers the project's monitor file is held by one (monitor-files.ts):
        // a job another server picks up asks the holder to do it; one that meets the file
        // between two holders (503) is tried again (running it again changes nothing).
        REPRICE_RETRY,
      )
      .catch((error: unknown) =>
        deps.log.warn(
          { err: error, projectId: change.projectId, model: change.model },
          'monitor: the repricing job for a changed price could not be queued',
        ),
      );
  });
}
