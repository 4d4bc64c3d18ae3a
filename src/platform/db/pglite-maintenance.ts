import { type Kysely, sql } from 'kysely';
import type { DB } from '../../migrations/db-schema.ts';
import type { JobQueue } from '../jobs/job-queue.ts';
import { type RecurringJob, registerRecurringJob } from '../jobs/recurring-job.ts';
import type { Logger } from '../logger.ts';
import type { Database } from './database.ts';

export const PGLITE_MAINTENANCE_JOB = 'platform.pglite-maintenance';
const MAINTENANCE_EVERY_SECONDS = 900;

/**
 * PostgreSQL's autovacuum thresholds (its defaults): a table is vacuumed once its dead rows pass
 * 50 + 20 % of its live ones, analyzed once the rows changed since its last ANALYZE pass 50 + 10 %.
 * https://www.postgresql.org/docs/17/routine-vacuuming.html#AUTOVACUUM
 */
const VACUUM_THRESHOLD = 50;
const VACUUM_SCALE = 0.2;
const ANALYZE_THRESHOLD = 50;
const ANALYZE_SCALE = 0.1;

export interface MaintenanceResult {
  vacuumed: string[];
  analyzed: string[];
}

interface TableStats {
  schema: string;
  table: string;
  live: number;
  dead: number;
  modified: number;
}

/**
 * One pass of what autovacuum would do on a server: VACUUM (ANALYZE) the tables with enough dead
 * rows, ANALYZE those changed enough since their last statistics. PGlite has no autovacuum: without
 * this, deleted and updated rows (job rows, sessions, usage) are never reclaimed for reuse, and the
 * planner keeps the row counts of the day a table was created.
 */
export async function runPgliteMaintenance(db: Kysely<DB>): Promise<MaintenanceResult> {
  // PGlite's one backend publishes its table counters lazily: flush them before reading.
  await sql`select pg_stat_force_next_flush()`.execute(db);
  const { rows } = await sql<TableStats>`
    select schemaname as schema, relname as table, n_live_tup::float8 as live,
           n_dead_tup::float8 as dead, n_mod_since_analyze::float8 as modified
    from pg_stat_user_tables
    order by schemaname, relname`.execute(db);
  const result: MaintenanceResult = { vacuumed: [], analyzed: [] };
  for (const stats of rows) {
    // Names from the catalog, quoted as identifiers (never user text).
    const table = sql.id(stats.schema, stats.table);
    const name = `${stats.schema}.${stats.table}`;
    if (stats.dead > VACUUM_THRESHOLD + VACUUM_SCALE * stats.live) {
      await sql`vacuum (analyze) ${table}`.execute(db);
      result.vacuumed.push(name);
    } else if (stats.modified > ANALYZE_THRESHOLD + ANALYZE_SCALE * stats.live) {
      await sql`analyze ${table}`.execute(db);
      result.analyzed.push(name);
    }
  }
  return result;
}

/**
 * Registers the maintenance job on PGlite (a PostgreSQL server runs its own autovacuum, so there
 * it is not registered and `start` does nothing). Every 15 minutes; a pass over quiet tables is one
 * statistics query.
 */
export function registerPgliteMaintenance(deps: {
  database: Database;
  jobs: JobQueue;
  logger: Logger;
}): RecurringJob {
  const { database, logger } = deps;
  if (database.kind !== 'pglite') return { start: async () => {} };
  return registerRecurringJob(deps.jobs, logger, {
    name: PGLITE_MAINTENANCE_JOB,
    everySeconds: MAINTENANCE_EVERY_SECONDS,
    firstAfterSeconds: 60,
    run: async () => {
      const result = await runPgliteMaintenance(database.db);
      if (result.vacuumed.length > 0 || result.analyzed.length > 0) {
        logger.info(result, 'pglite maintenance');
      }
      return result;
    },
  });
}
