import { type Kysely, sql } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import type { SourceOption } from './monitor-import.ts';

/**
 * A project's server-side watch (migration 0680): the folder, whether servers watch it, and
 * what the last cycle did. In PostgreSQL, so every server starts the same watches and any of
 * them can show the live badge; the times are the database's clock.
 */
export interface WatchSetting {
  projectId: string;
  path: string;
  source: SourceOption;
  enabled: boolean;
  updatedAt: Date;
  lastCycleAt: Date | null;
  /** The last cycle that wrote something (a file read, or one departed). */
  lastImportAt: Date | null;
  lastError: string | null;
  /** A cycle ran within LIVE_WINDOW_SECONDS (on the database's clock). */
  live: boolean;
}

/**
 * How recent the last cycle must be for the badge to say live: two reconciles (60 s each)
 * and some slack, so one slow cycle does not blink it off.
 */
export const LIVE_WINDOW_SECONDS = 150;

interface Row {
  project_id: string;
  path: string;
  source: string;
  enabled: boolean;
  updated_at: Date;
  last_cycle_at: Date | null;
  last_import_at: Date | null;
  last_error: string | null;
  live: boolean;
}

const date = (value: Date | string | null) => (value === null ? null : new Date(value));

function fromRow(row: Row): WatchSetting {
  return {
    projectId: row.project_id,
    path: row.path,
    source: row.source as SourceOption,
    enabled: row.enabled,
    updatedAt: new Date(row.updated_at),
    lastCycleAt: date(row.last_cycle_at),
    lastImportAt: date(row.last_import_at),
    lastError: row.last_error,
    live: row.live,
  };
}

const columns = sql`project_id, path, source, enabled, updated_at, last_cycle_at, last_import_at,
  last_error, coalesce(enabled and last_cycle_at > now() - make_interval(secs => ${LIVE_WINDOW_SECONDS}), false) as live`;

export function createMonitorWatchStore(db: Kysely<DB>) {
  return {
    async find(projectId: string): Promise<WatchSetting | undefined> {
      const result = await sql<Row>`
        select ${columns} from monitor_watch where project_id = ${projectId}`.execute(db);
      const row = result.rows[0];
      return row ? fromRow(row) : undefined;
    },

    async listEnabled(): Promise<WatchSetting[]> {
      const result = await sql<Row>`
        select ${columns} from monitor_watch where enabled order by project_id`.execute(db);
      return result.rows.map(fromRow);
    },

    /** Sets the folder and switch; a changed folder starts with no cycle recorded. */
    async save(
      projectId: string,
      input: { path: string; source: SourceOption; enabled: boolean; updatedBy: string },
    ): Promise<WatchSetting> {
      const result = await sql<Row>`
        insert into monitor_watch (project_id, path, source, enabled, updated_by)
        values (${projectId}, ${input.path}, ${input.source}, ${input.enabled}, ${input.updatedBy})
        on conflict (project_id) do update set
          path = excluded.path, source = excluded.source, enabled = excluded.enabled,
          updated_by = excluded.updated_by, updated_at = now(),
          last_cycle_at = case when monitor_watch.path = excluded.path
            then monitor_watch.last_cycle_at end,
          last_import_at = case when monitor_watch.path = excluded.path
            then monitor_watch.last_import_at end,
          last_error = case when monitor_watch.path = excluded.path
            then monitor_watch.last_error end
        returning ${columns}`.execute(db);
      return fromRow(result.rows[0]!);
    },

    /** What a cycle did (`imported`: it wrote something); `error` null clears the last one. */
    async recordCycle(
      projectId: string,
      path: string,
      cycle: { imported: boolean; error: string | null },
    ): Promise<void> {
      await sql`
        update monitor_watch set last_cycle_at = now(),
          last_import_at = case when ${cycle.imported}::boolean then now() else last_import_at end,
          last_error = ${cycle.error}
        where project_id = ${projectId} and path = ${path}`.execute(db);
    },
  };
}

export type MonitorWatchStore = ReturnType<typeof createMonitorWatchStore>;
