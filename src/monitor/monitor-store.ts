import { statSync } from 'node:fs';
import { type DuckDBAppender, type DuckDBConnection, DuckDBTimestampValue } from '@duckdb/node-api';
import type { DuckDb } from '../platform/duckdb/duckdb.ts';
import type { Priced } from './monitor-cost.ts';
import { type ParsedFile, RawJson } from './monitor-records.ts';
import {
  DEDUPED_USAGE,
  EVENT_AS_ROLLUP,
  EVENT_QUARTER_SQL,
  FILE_TABLES,
  QUARTER_MS,
  RECOUNT_SQL,
  rollupInsertSql,
  rollupQuarterRefreshSql,
} from './monitor-tables.ts';
import { dayName, localDaySql, type OffsetSpan, offsetSpans } from './monitor-timezone.ts';

/**
 * DuckDB reads and writes of the monitor: rows in, rows out. Every statement takes its values
 * as parameters; table names are the fixed ones of monitor-tables.ts.
 */

export type FileStatus = 'imported' | 'failed' | 'refused' | 'departed';

export interface SourceFileState {
  fileId: string;
  source: string;
  kind: string;
  path: string;
  size: number;
  mtimeMs: number;
  byteOffset: number;
  contentHash: string | null;
  status: FileStatus;
  error: string | null;
  attempts: number;
  parserVersion: number;
  records: number;
  badLines: number;
  /** When the state was last written (read back only; writes use the current time). */
  indexedAtMs?: number;
  /** JSON of where the parse stopped, for tailing (a Claude Code transcript); else null. */
  parserState?: string | null;
}

/** One file's new state and, when it was read, its rows (replacing all it had before). */
export interface FileWrite {
  state: SourceFileState;
  parsed: ParsedFile | null;
  prices: Priced[];
  /** A file never imported before has no rows to delete. */
  isNew?: boolean;
  /**
   * An appended tail, parsed from this line on: the file's earlier messages, parts and usage
   * stay; its session row and agent links are replaced (`parsed` holds them whole) and its bad
   * lines from this line on (a partial last line read again).
   */
  tailFromLine?: number;
  /**
   * A tail's file may hold bad lines from `tailFromLine` on (its last parse ended on a partial
   * line, read again now): they are deleted. `false` when the file's state says it holds none
   * past its checkpoint, which spares a live cycle that delete; unset counts as `true`.
   */
  staleBadLines?: boolean;
}

type Column = 'v' | 'b' | 'i' | 't' | 'j' | 'o';

function appendText(appender: DuckDBAppender, value: string | null | undefined) {
  if (value === null || value === undefined) appender.appendNull();
  else appender.appendVarchar(value);
}

/** A BIGINT column's value: an INTEGER when it fits (no BigInt made), as DuckDB widens it. */
function appendCount(appender: DuckDBAppender, value: number | null | undefined) {
  if (value === null || value === undefined) appender.appendNull();
  else if ((value | 0) === value) appender.appendInteger(value);
  else appender.appendBigInt(BigInt(value));
}

function appendJson(appender: DuckDBAppender, value: unknown) {
  if (value === null || value === undefined) appender.appendNull();
  else appender.appendVarchar(value instanceof RawJson ? value.text : JSON.stringify(value));
}

/**
 * A TIMESTAMPTZ column's value, appended as a TIMESTAMP: the same microseconds since the
 * epoch, stored as they are whatever the connection's TimeZone (tested in
 * monitor-import-batches.test.ts); appendTimestampTZ builds a DuckDB Value per call.
 */
function appendTime(appender: DuckDBAppender, value: Date | null) {
  if (value === null) appender.appendNull();
  else appender.appendTimestamp(new DuckDBTimestampValue(BigInt(value.getTime()) * 1000n));
}

function appendRow(appender: DuckDBAppender, types: readonly Column[], values: unknown[]) {
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    if (value === null || value === undefined) {
      appender.appendNull();
      continue;
    }
    switch (types[index]) {
      case 'v':
        appender.appendVarchar(String(value));
        break;
      case 'j':
        appender.appendVarchar(value instanceof RawJson ? value.text : JSON.stringify(value));
        break;
      case 'b':
        appender.appendBigInt(BigInt(value as number));
        break;
      case 'i':
        appender.appendInteger(value as number);
        break;
      case 'o':
        appender.appendBoolean(value as boolean);
        break;
      case 't':
        appendTime(appender, value as Date);
        break;
    }
  }
  appender.endRow();
}

async function appendAll(
  connection: DuckDBConnection,
  table: string,
  types: readonly Column[],
  rows: Iterable<unknown[]>,
) {
  await withAppender(connection, table, (appender) => {
    for (const values of rows) appendRow(appender, types, values);
  });
}

/**
 * Appends the rows `append` writes (each value in column order, then endRow), flushed at the
 * end. The monitor's large tables are written this way: calling the appender straight from
 * the parsed rows makes no array per row (100,000 OpenCode files: ≈ 1.5 M values).
 */
async function withAppender(
  connection: DuckDBConnection,
  table: string,
  append: (appender: DuckDBAppender) => void,
) {
  const appender = await connection.createAppender(table);
  try {
    append(appender);
    appender.flushSync();
  } catch (error) {
    // A half-appended row makes close throw too; the first error is the one to report (the
    // transaction around us rolls back either way).
    try {
      appender.closeSync();
    } catch {}
    throw error;
  }
  appender.closeSync();
}

const quarterOf = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

const numberOf = (value: unknown): number =>
  value === null || value === undefined ? 0 : Number(value);

export interface TokenTotals {
  input: number;
  output: number;
  reasoning: number;
  cacheRead: number;
  cacheWrite: number;
}

export interface UsageTotals {
  tokens: TokenTotals;
  usageEvents: number;
  /** Sum of known costs, nano-USD; null when no event of the group has a known cost. */
  costNano: number | null;
  unpricedEvents: number;
  reportedEvents: number;
  computedEvents: number;
}

export interface SessionReportRow extends UsageTotals {
  source: string;
  sessionKey: string;
  sessionId: string;
  agentId: string | null;
  agentKind: string;
  agentType: string | null;
  parentSessionId: string | null;
  title: string | null;
  records: number;
  startedAt: number | null;
  endedAt: number | null;
}

/** The token buckets of a row (one event's, or a group's sums); a missing sum is 0. */
function tokensFrom(row: Record<string, unknown>): TokenTotals {
  return {
    input: numberOf(row.input),
    output: numberOf(row.output),
    reasoning: numberOf(row.reasoning),
    cacheRead: numberOf(row.cache_read),
    cacheWrite: numberOf(row.cache_write),
  };
}

function totalsFrom(row: Record<string, unknown>): UsageTotals {
  return {
    tokens: tokensFrom(row),
    usageEvents: numberOf(row.usage_events),
    costNano: row.cost_nano === null || row.cost_nano === undefined ? null : Number(row.cost_nano),
    unpricedEvents: numberOf(row.unpriced_events),
    reportedEvents: numberOf(row.reported_events),
    computedEvents: numberOf(row.computed_events),
  };
}

export interface ReportFilter {
  projectId: string;
  /** Events at or after this instant only. */
  since: Date | undefined;
}

export type BreakdownDimension = 'provider' | 'project' | 'branch';

const BREAKDOWN_KEYS: Record<BreakdownDimension, string> = {
  provider: 'u.provider',
  project: 'p.cwd',
  branch: 'p.git_branch',
};

/**
 * Where usage reports read from: the rollup (per session, quarter-hour and model; the
 * default) or the counted events themselves (the reference the tests compare against).
 */
export type UsageReadMode = 'rollup' | 'events';

/**
 * Sums over a usage relation in the rollup's shape (usageRows): the same answer whether its
 * rows are rollup rows or single events.
 */
const ROLLUP_TOTALS_SQL = `
  coalesce(sum(u.input), 0) as input, coalesce(sum(u.output), 0) as output,
  coalesce(sum(u.reasoning), 0) as reasoning, coalesce(sum(u.cache_read), 0) as cache_read,
  coalesce(sum(u.cache_write), 0) as cache_write, coalesce(sum(u.events), 0) as usage_events,
  sum(u.cost_nano) as cost_nano, coalesce(sum(u.unpriced), 0) as unpriced_events,
  coalesce(sum(u.reported), 0) as reported_events, coalesce(sum(u.computed), 0) as computed_events`;

/**
 * The project's counted usage as rows of the rollup's shape (monitor-tables.ts). With
 * `since`, the rollup's quarters from the first whole one on, and the events of the quarter
 * `since` falls in (from `since` on) read one by one: exact for any instant.
 */
function usageRows(filter: ReportFilter, params: unknown[], mode: UsageReadMode): string {
  const events = (where: string) =>
    `select ${EVENT_AS_ROLLUP} from monitor_usage_event where project_id = $1 and counted${where}`;
  // Named in EVENT_AS_ROLLUP's order: a union matches columns by position.
  const rollup = (where: string) =>
    `select session_key, source, provider, model, quarter_ms, first_ms, last_ms, events, input,
       output, reasoning, cache_read, cache_write, cost_nano, unpriced, reported, computed
     from monitor_usage_rollup where project_id = $1${where}`;
  if (!filter.since) return mode === 'events' ? `(${events('')})` : `(${rollup('')})`;
  params.push(filter.since.toISOString());
  const since = `$${params.length}::timestamptz`;
  if (mode === 'events') return `(${events(` and ts >= ${since}`)})`;
  params.push(Math.ceil(filter.since.getTime() / QUARTER_MS) * QUARTER_MS);
  const boundary = `$${params.length}::bigint`;
  return `(${rollup(` and quarter_ms >= ${boundary}`)}
           union all ${events(` and ts >= ${since} and epoch_ms(ts) < ${boundary}`)})`;
}

/**
 * Whether local days can be told from quarter-hours: every offset in `spans` a whole number
 * of quarter-hours and every change on a quarter-hour, so no quarter straddles a local
 * midnight. Historic local mean times (before about 1900) are not; their days read events.
 */
function quarterAligned(spans: readonly OffsetSpan[]): boolean {
  return spans.every(
    (span, index) =>
      span.offsetMs % QUARTER_MS === 0 && (index === 0 || span.fromMs % QUARTER_MS === 0),
  );
}

function sinceClause(filter: ReportFilter, params: unknown[]): string {
  if (!filter.since) return '';
  params.push(filter.since.toISOString());
  return ` and u.ts >= $${params.length}::timestamptz`;
}

/** Characters of an exchange's prompt and reply its list shows. */
const EXCHANGE_TEXT_MAX = 500;

/** Characters of a part's text or tool input a session's detail shows. */
const PART_TEXT_MAX = 4_000;

export interface MonitorStoreOptions {
  /**
   * Keep `monitor_usage_rollup` in step with every write (the default). `false` exists for
   * one reader only: the benchmark measuring what that upkeep costs an import — reports read
   * a stale rollup then.
   */
  maintainRollup?: boolean;
}

export function createMonitorStore(duckdb: DuckDb, options: MonitorStoreOptions = {}) {
  const maintainRollup = options.maintainRollup ?? true;
  return {
    async fileStates(projectId: string): Promise<Map<string, SourceFileState>> {
      const rows = await duckdb.query(
        `select file_id, source, kind, path, size, mtime_ms, byte_offset, content_hash, status,
                error, attempts, parser_version, records, bad_lines,
                epoch_ms(indexed_at) as indexed_at, parser_state
         from monitor_source_file where project_id = $1`,
        [projectId],
      );
      const states = new Map<string, SourceFileState>();
      for (const row of rows) {
        states.set(String(row.path), {
          fileId: String(row.file_id),
          source: String(row.source),
          kind: String(row.kind),
          path: String(row.path),
          size: Number(row.size),
          mtimeMs: Number(row.mtime_ms),
          byteOffset: Number(row.byte_offset),
          contentHash: row.content_hash === null ? null : String(row.content_hash),
          status: String(row.status) as FileStatus,
          error: row.error === null ? null : String(row.error),
          attempts: Number(row.attempts),
          parserVersion: Number(row.parser_version),
          records: Number(row.records),
          badLines: Number(row.bad_lines),
          indexedAtMs: Number(row.indexed_at),
          parserState: row.parser_state === null ? null : String(row.parser_state),
        });
      }
      return states;
    },

    /**
     * Replaces the rows of every file in `writes` and their states, in one transaction: a
     * crash part-way leaves each file as it was before, so nothing is counted twice.
     */
    async replaceFiles(projectId: string, writes: readonly FileWrite[]): Promise<void> {
      if (writes.length === 0) return;
      await duckdb.transaction(async (connection) => {
        // Every event key (and message) this write adds or removes: their `counted` is redone.
        const affected: unknown[][] = [];
        // Every (session, quarter-hour) whose counted events may change: summed again.
        const rollupKeys = new Map<string, [string, number | null]>();
        const touchQuarter = (sessionKey: string, quarterMs: number | null) =>
          rollupKeys.set(`${sessionKey}\u0000${quarterMs}`, [sessionKey, quarterMs]);
        const replaced = writes.filter((write) => !write.isNew && write.tailFromLine === undefined);
        const tails = writes.filter((write) => write.tailFromLine !== undefined);
        if (tails.length > 0) {
          // A tail replaces its file's session row and links, and its bad lines from the
          // resumed line on; its other rows stay (see FileWrite.tailFromLine). The files are
          // named by a temporary table, not a list of parameters: a live cycle tails thousands
          // of files, and DuckDB binds a long IN list for each statement (three deletes over
          // 1,000 files: 27 ms CPU with lists, 9 ms with the table, its fill included).
          await connection.run(
            'create or replace temp table monitor_tail_files (file_id varchar, path varchar)',
          );
          await appendAll(
            connection,
            'monitor_tail_files',
            ['v', 'v'],
            tails.map((write) => [write.state.fileId, write.state.path]),
          );
          for (const table of ['monitor_session', 'monitor_agent_link']) {
            await connection.run(
              `delete from ${table} where project_id = $1
                 and file_id in (select file_id from monitor_tail_files)`,
              [projectId],
            );
          }
          const stale = tails.filter((write) => write.staleBadLines !== false);
          if (stale.length > 0) {
            const pairs = stale
              .map((_, index) => `($${2 * index + 2}, $${2 * index + 3}::bigint)`)
              .join(', ');
            await connection.run(
              `delete from monitor_bad_line b using (values ${pairs}) t(file_id, line)
               where b.project_id = $1 and b.file_id = t.file_id and b.line >= t.line`,
              [projectId, ...stale.flatMap((write) => [write.state.fileId, write.tailFromLine!])],
            );
          }
          await connection.run(
            `delete from monitor_source_file where project_id = $1
               and path in (select path from monitor_tail_files)`,
            [projectId],
          );
          await connection.run('drop table monitor_tail_files');
        }
        if (replaced.length > 0) {
          const ids = replaced.map((write) => write.state.fileId);
          const gone = await connection.runAndReadAll(
            `select distinct event_key, message_id, session_key, ${EVENT_QUARTER_SQL} as quarter_ms
             from monitor_usage_event where project_id = $1 and file_id in (${ids.map((_, index) => `$${index + 2}`).join(', ')})`,
            [projectId, ...ids],
          );
          for (const row of gone.getRowObjectsJS()) {
            affected.push([row.event_key, row.message_id]);
            touchQuarter(String(row.session_key), quarterOf(row.quarter_ms));
          }
          const paths = replaced.map((write) => write.state.path);
          const idList = ids.map((_, index) => `$${index + 2}`).join(', ');
          for (const table of FILE_TABLES) {
            await connection.run(
              `delete from ${table} where project_id = $1 and file_id in (${idList})`,
              [projectId, ...ids],
            );
          }
          const pathList = paths.map((_, index) => `$${index + 2}`).join(', ');
          await connection.run(
            `delete from monitor_source_file where project_id = $1 and path in (${pathList})`,
            [projectId, ...paths],
          );
        }
        const now = new Date();
        // The large tables are appended value by value (see withAppender): no array per row.
        await withAppender(connection, 'monitor_source_file', (a) => {
          for (const { state } of writes) {
            a.appendVarchar(projectId);
            a.appendVarchar(state.fileId);
            a.appendVarchar(state.source);
            a.appendVarchar(state.kind);
            a.appendVarchar(state.path);
            appendCount(a, state.size);
            appendCount(a, state.mtimeMs);
            appendCount(a, state.byteOffset);
            appendText(a, state.contentHash);
            a.appendVarchar(state.status);
            appendText(a, state.error);
            a.appendInteger(state.attempts);
            a.appendInteger(state.parserVersion);
            a.appendInteger(state.records);
            a.appendInteger(state.badLines);
            appendTime(a, now);
            appendText(a, state.parserState);
            a.endRow();
          }
        });
        const withRows = writes.filter((write) => write.parsed !== null);
        await appendAll(
          connection,
          'monitor_bad_line',
          ['v', 'v', 'b', 'v'],
          withRows.flatMap((write) =>
            write.parsed!.badLines.map((row) => [
              projectId,
              write.state.fileId,
              row.line,
              row.reason,
            ]),
          ),
        );
        await withAppender(connection, 'monitor_session', (a) => {
          for (const write of withRows) {
            for (const row of write.parsed!.sessions) {
              a.appendVarchar(projectId);
              a.appendVarchar(write.state.fileId);
              a.appendVarchar(row.source);
              a.appendVarchar(row.sessionKey);
              a.appendVarchar(row.sessionId);
              appendText(a, row.agentId);
              a.appendVarchar(row.agentKind);
              appendText(a, row.agentName);
              appendText(a, row.parentSessionId);
              appendText(a, row.title);
              appendText(a, row.cwd);
              appendText(a, row.gitBranch);
              a.appendInteger(row.records);
              appendTime(a, row.startedAt);
              appendTime(a, row.endedAt);
              appendJson(a, row.raw);
              a.appendVarchar(row.sourceRef);
              a.endRow();
            }
          }
        });
        await withAppender(connection, 'monitor_message', (a) => {
          for (const write of withRows) {
            for (const row of write.parsed!.messages) {
              a.appendVarchar(projectId);
              a.appendVarchar(write.state.fileId);
              a.appendVarchar(row.sessionKey);
              a.appendVarchar(row.messageId);
              appendText(a, row.role);
              appendText(a, row.model);
              appendText(a, row.provider);
              appendTime(a, row.createdAt);
              appendJson(a, row.raw);
              a.appendVarchar(row.sourceRef);
              a.endRow();
            }
          }
        });
        await withAppender(connection, 'monitor_part', (a) => {
          for (const write of withRows) {
            for (const row of write.parsed!.parts) {
              a.appendVarchar(projectId);
              a.appendVarchar(write.state.fileId);
              a.appendVarchar(row.sessionKey);
              appendText(a, row.messageId);
              a.appendVarchar(row.partId);
              a.appendVarchar(row.type);
              appendText(a, row.text);
              appendText(a, row.toolName);
              appendText(a, row.callId);
              appendText(a, row.toolStatus);
              appendJson(a, row.toolInput);
              appendText(a, row.toolOutput);
              appendText(a, row.toolError);
              appendText(a, row.childRef);
              appendJson(a, row.raw);
              a.appendVarchar(row.sourceRef);
              a.endRow();
            }
          }
        });
        await appendAll(
          connection,
          'monitor_agent_link',
          ['v', 'v', 'v', 'v', 'v', 'v', 'v', 'v'],
          withRows.flatMap((write) =>
            write.parsed!.links.map((row) => [
              projectId,
              write.state.fileId,
              row.source,
              row.sessionId,
              row.childRef,
              row.callId,
              row.agentType,
              row.description,
            ]),
          ),
        );
        await withAppender(connection, 'monitor_usage_event', (a) => {
          for (const write of withRows) {
            const usage = write.parsed!.usage;
            for (let index = 0; index < usage.length; index++) {
              const row = usage[index]!;
              const price = write.prices[index]!;
              a.appendVarchar(projectId);
              a.appendVarchar(write.state.fileId);
              a.appendVarchar(row.source);
              a.appendVarchar(row.eventKey);
              appendText(a, row.fallbackFor);
              a.appendVarchar(row.sessionKey);
              appendText(a, row.messageId);
              appendTime(a, row.ts);
              appendText(a, row.provider);
              appendText(a, row.model);
              appendCount(a, row.input);
              appendCount(a, row.output);
              appendCount(a, row.reasoning);
              appendCount(a, row.cacheRead);
              appendCount(a, row.cacheWrite);
              appendCount(a, row.cacheWrite1h);
              appendCount(a, row.reportedCostNano);
              appendCount(a, price.costNano);
              a.appendVarchar(price.basis);
              appendJson(a, row.raw);
              a.appendVarchar(row.sourceRef);
              a.appendBoolean(true);
              a.endRow();
              affected.push([row.eventKey, row.source === 'opencode' ? row.messageId : null]);
              touchQuarter(
                row.sessionKey,
                row.ts === null ? null : Math.floor(row.ts.getTime() / QUARTER_MS) * QUARTER_MS,
              );
            }
          }
        });
        if (affected.length > 0) {
          await connection.run(
            'create or replace temp table monitor_affected (event_key varchar, message_id varchar)',
          );
          await appendAll(connection, 'monitor_affected', ['v', 'v'], affected);
          // The rows whose answer flips are the only old rows whose rollup sums change.
          const flipped = await connection.runAndReadAll(
            `${RECOUNT_SQL} returning session_key, ${EVENT_QUARTER_SQL} as quarter_ms`,
            [projectId],
          );
          for (const row of flipped.getRowObjectsJS())
            touchQuarter(String(row.session_key), quarterOf(row.quarter_ms));
          await connection.run('drop table monitor_affected');
        }
        if (maintainRollup && rollupKeys.size > 0) {
          await connection.run(
            'create or replace temp table monitor_rollup_quarters (session_key varchar, quarter_ms bigint)',
          );
          const quarters = [...rollupKeys.values()];
          await appendAll(connection, 'monitor_rollup_quarters', ['v', 'b'], quarters);
          let fromMs: number | null = null;
          for (const [, quarterMs] of quarters)
            if (quarterMs !== null && (fromMs === null || quarterMs < fromMs)) fromMs = quarterMs;
          for (const statement of rollupQuarterRefreshSql(fromMs))
            await connection.run(statement, [projectId]);
          await connection.run('drop table monitor_rollup_quarters');
        }
      });
    },

    /** Sums a project's rollup again from its events (after events written by other means). */
    async rebuildRollup(projectId: string): Promise<void> {
      await duckdb.transaction(async (connection) => {
        await connection.run('delete from monitor_usage_rollup where project_id = $1', [projectId]);
        await connection.run(rollupInsertSql('and project_id = $1'), [projectId]);
      });
    },

    /** Records that a file kept its content (only its mtime moved), or its new status. */
    async updateFileState(projectId: string, state: SourceFileState): Promise<void> {
      await duckdb.run(
        `update monitor_source_file set size = $3, mtime_ms = $4, status = $5, error = $6,
           attempts = $7, indexed_at = now()
         where project_id = $1 and path = $2`,
        [
          projectId,
          state.path,
          state.size,
          state.mtimeMs,
          state.status,
          state.error,
          state.attempts,
        ],
      );
    },

    /** Model and session of OpenCode messages already imported (for their step-finish parts). */
    async openCodeMessages(
      projectId: string,
      messageIds: readonly string[],
    ): Promise<
      Map<
        string,
        { sessionKey: string; model: string | null; provider: string | null; at: Date | null }
      >
    > {
      const found = new Map<
        string,
        { sessionKey: string; model: string | null; provider: string | null; at: Date | null }
      >();
      for (let start = 0; start < messageIds.length; start += 1_000) {
        const chunk = messageIds.slice(start, start + 1_000);
        const list = chunk.map((_, index) => `$${index + 2}`).join(', ');
        const rows = await duckdb.query(
          `select message_id, session_key, model, provider,
                  coalesce(try_cast(raw->>'$.time.completed' as bigint), epoch_ms(created_at)) as at
           from monitor_message
           where project_id = $1 and session_key like 'oc:%' and message_id in (${list})`,
          [projectId, ...chunk],
        );
        for (const row of rows) {
          found.set(String(row.message_id), {
            sessionKey: String(row.session_key),
            model: row.model === null ? null : String(row.model),
            provider: row.provider === null ? null : String(row.provider),
            at: row.at === null ? null : new Date(Number(row.at)),
          });
        }
      }
      return found;
    },

    /**
     * One row per session and per sub-agent, with its own usage (not its sub-agents'). The
     * agent type of a sub-agent comes from the call that started it (Task `subagent_type`).
     */
    async sessionReport(
      filter: ReportFilter,
      mode: UsageReadMode = 'rollup',
    ): Promise<SessionReportRow[]> {
      const params: unknown[] = [filter.projectId];
      const usage = usageRows(filter, params, mode);
      // Usage is summed per session first, on the session key alone, then joined to the few
      // session rows: grouping the joined rows by every descriptive column costs 10× more.
      const rows = await duckdb.query(
        `with usage as (
           select u.session_key, ${ROLLUP_TOTALS_SQL} from ${usage} u group by u.session_key
         ),
         sessions as (
           select session_key, any_value(source) as source, any_value(session_id) as session_id,
                  any_value(agent_id) as agent_id, any_value(agent_kind) as agent_kind,
                  any_value(agent_name) as agent_name, any_value(parent_session_id) as parent_session_id,
                  any_value(title) as title, min(started_at) as started_at, max(ended_at) as ended_at
           from monitor_session where project_id = $1 group by session_key
         ),
         keys as (
           select session_key from sessions
           union select session_key from monitor_message where project_id = $1
           union select session_key from usage
         ),
         records as (
           select session_key, count(distinct message_id) as records from monitor_message where project_id = $1
           group by session_key
         ),
         links as (
           select source, child_ref, any_value(agent_type) as agent_type
           from monitor_agent_link where project_id = $1 group by source, child_ref
         )
         select k.session_key,
                coalesce(s.source, case when k.session_key like 'oc:%' then 'opencode' else 'claude-code' end) as source,
                coalesce(s.session_id, split_part(k.session_key, ':', 2)) as session_id,
                s.agent_id, coalesce(s.agent_kind, 'main') as agent_kind,
                coalesce(l.agent_type, s.agent_name) as agent_type,
                s.parent_session_id, s.title, coalesce(r.records, 0) as records,
                epoch_ms(s.started_at) as started_at, epoch_ms(s.ended_at) as ended_at,
                u.* exclude (session_key)
         from keys k
         left join sessions s using (session_key)
         left join records r using (session_key)
         left join links l on l.source = s.source
           and l.child_ref = case when s.source = 'opencode' then s.session_id else s.agent_id end
         left join usage u on u.session_key = k.session_key
         order by started_at nulls last, k.session_key`,
        params as never,
      );
      return rows.map((row) => ({
        ...totalsFrom(row),
        source: String(row.source),
        sessionKey: String(row.session_key),
        sessionId: String(row.session_id),
        agentId: row.agent_id === null ? null : String(row.agent_id),
        agentKind: String(row.agent_kind),
        agentType:
          row.agent_kind === 'main' || row.agent_type === null ? null : String(row.agent_type),
        parentSessionId: row.parent_session_id === null ? null : String(row.parent_session_id),
        title: row.title === null ? null : String(row.title),
        records: numberOf(row.records),
        startedAt: row.started_at === null ? null : Number(row.started_at),
        endedAt: row.ended_at === null ? null : Number(row.ended_at),
      }));
    },

    /**
     * Usage per calendar day in `timeZone` (an IANA name, checked by the caller). The zone's
     * offsets over the events' time range become a CASE on epoch milliseconds
     * (monitor-timezone.ts): integer arithmetic per event instead of an ICU conversion.
     */
    async dayReport(filter: ReportFilter, timeZone: string, mode: UsageReadMode = 'rollup') {
      const params: unknown[] = [filter.projectId];
      let usage = usageRows(filter, params, mode);
      const [range] = await duckdb.query(
        `select min(u.first_ms) as first, max(u.last_ms) as last
         from ${usage} u where u.quarter_ms is not null`,
        params as never,
      );
      if (!range || range.first === null || range.first === undefined) return [];
      const spans = offsetSpans(timeZone, Number(range.first), Number(range.last));
      // A rollup row is put on the local day of its quarter's start: the day of each of its
      // events when the zone's offsets are whole quarter-hours (else the events are read).
      let read = mode;
      if (read === 'rollup' && !quarterAligned(spans)) {
        read = 'events';
        params.length = 1;
        usage = usageRows(filter, params, read);
      }
      // Sessions per day: distinct session keys over the day's rows (a session has a rollup
      // row per quarter-hour and model it was active in, not one per call).
      const rows = await duckdb.query(
        `select ${localDaySql(read === 'rollup' ? 'u.quarter_ms' : 'u.first_ms', spans)} as day,
                count(distinct u.session_key) as sessions, ${ROLLUP_TOTALS_SQL}
         from ${usage} u where u.quarter_ms is not null
         group by 1 order by 1`,
        params as never,
      );
      return rows.map((row) => ({
        day: dayName(Number(row.day)),
        sessions: numberOf(row.sessions),
        ...totalsFrom(row),
      }));
    },

    /**
     * Usage per UTC quarter-hour in time order, with its first and last call, for the 5-hour
     * blocks (monitor-blocks.ts): a block starts on an hour and lasts whole hours, so a
     * quarter never straddles two blocks.
     */
    async blockSlices(filter: ReportFilter, mode: UsageReadMode = 'rollup') {
      const params: unknown[] = [filter.projectId];
      const usage = usageRows(filter, params, mode);
      const rows = await duckdb.query(
        `select u.quarter_ms, min(u.first_ms) as first_ms, max(u.last_ms) as last_ms,
                ${ROLLUP_TOTALS_SQL}
         from ${usage} u where u.quarter_ms is not null group by 1 order by 1`,
        params as never,
      );
      return rows.map((row) => ({
        firstAt: Number(row.first_ms),
        lastAt: Number(row.last_ms),
        ...totalsFrom(row),
      }));
    },

    /** Deduplicated events in time order, for the 5-hour blocks (monitor-blocks.ts). */
    async blockEvents(filter: ReportFilter) {
      const params: unknown[] = [filter.projectId];
      const since = sinceClause(filter, params);
      const rows = await duckdb.query(
        `select epoch_ms(u.ts) as ts, u.input, u.output, u.reasoning, u.cache_read, u.cache_write,
                u.cost_nano, u.cost_basis
         from ${DEDUPED_USAGE} u where u.ts is not null${since} order by u.ts`,
        params as never,
      );
      return rows.map((row) => ({
        ts: Number(row.ts),
        tokens: tokensFrom(row),
        costNano: row.cost_nano === null ? null : Number(row.cost_nano),
        basis: String(row.cost_basis),
      }));
    },

    /**
     * Usage per provider, project (the session's working directory) or git branch (the first
     * one the session's lines name). A sub-agent or child session without its own directory
     * or branch takes its parent's. The key's SQL comes from this fixed map, never a request.
     */
    async breakdownReport(
      filter: ReportFilter,
      by: BreakdownDimension,
      mode: UsageReadMode = 'rollup',
    ) {
      const params: unknown[] = [filter.projectId];
      const usage = usageRows(filter, params, mode);
      const rows = await duckdb.query(
        `with sessions as (
           select session_key, any_value(source) as source, any_value(session_id) as session_id,
                  any_value(parent_session_id) as parent_session_id, any_value(cwd) as cwd,
                  any_value(git_branch) as git_branch
           from monitor_session where project_id = $1 group by session_key
         ), placed as (
           select s.session_key, coalesce(s.cwd, p.cwd) as cwd,
                  coalesce(s.git_branch, p.git_branch) as git_branch
           from sessions s
           left join sessions p on p.session_key <> s.session_key and p.session_key =
             case when s.source = 'opencode' then 'oc:' || s.parent_session_id
                  else 'cc:' || s.session_id end
         )
         select ${BREAKDOWN_KEYS[by]} as key, count(distinct u.session_key) as sessions, ${ROLLUP_TOTALS_SQL}
         from ${usage} u left join placed p on p.session_key = u.session_key
         group by 1 order by cost_nano desc nulls last, key nulls last`,
        params as never,
      );
      return rows.map((row) => ({
        key: row.key === null ? null : String(row.key),
        sessions: numberOf(row.sessions),
        ...totalsFrom(row),
      }));
    },

    async modelReport(filter: ReportFilter, mode: UsageReadMode = 'rollup') {
      const params: unknown[] = [filter.projectId];
      const usage = usageRows(filter, params, mode);
      const rows = await duckdb.query(
        `select u.source, u.provider, u.model, ${ROLLUP_TOTALS_SQL}
         from ${usage} u
         group by all order by cost_nano desc nulls last, u.model`,
        params as never,
      );
      return rows.map((row) => ({
        source: String(row.source),
        provider: row.provider === null ? null : String(row.provider),
        model: row.model === null ? null : String(row.model),
        ...totalsFrom(row),
      }));
    },

    /**
     * Tool calls per tool name: calls, failures, unfinished, duration p50/p95 and the most
     * frequent errors. A Claude Code call is its `tool_use` part joined to the `tool_result`
     * with the same call id in the same transcript (its status and error; its duration runs
     * from the call's line to the result's line); an OpenCode `tool` part carries its status,
     * error and `state.time.start/end` itself. A call seen in two files counts once.
     */
    async toolReport(filter: ReportFilter, topErrors: number) {
      const params: unknown[] = [filter.projectId];
      // A call is dated by its message; with `since`, undated calls are left out.
      let since = '';
      if (filter.since) {
        params.push(filter.since.toISOString());
        since = ` and m.created_at >= $${params.length}::timestamptz`;
      }
      const rows = await duckdb.query(
        `with msg as (
           select session_key, message_id, min(created_at) as created_at from monitor_message
           where project_id = $1 group by all
         ), result as (
           select session_key, call_id, tool_status, tool_error, message_id from monitor_part
           where project_id = $1 and type = 'tool_result' and call_id is not null
           qualify row_number() over (partition by session_key, call_id order by part_id) = 1
         ), call as (
           select u.tool_name,
             coalesce(r.tool_status, u.tool_status) as status,
             coalesce(r.tool_error, u.tool_error) as error,
             case when u.type = 'tool' then
               try_cast(json_extract_string(u.raw, '$.state.time.end') as double)
                 - try_cast(json_extract_string(u.raw, '$.state.time.start') as double)
             else epoch_ms(mr.created_at) - epoch_ms(m.created_at) end as duration_ms
           from monitor_part u
           left join result r on u.type = 'tool_use' and r.session_key = u.session_key and r.call_id = u.call_id
           left join msg m on m.session_key = u.session_key and m.message_id = u.message_id
           left join msg mr on mr.session_key = r.session_key and mr.message_id = r.message_id
           where u.project_id = $1 and u.type in ('tool_use', 'tool') and u.tool_name is not null${since}
           qualify row_number() over (partition by u.session_key, coalesce(u.call_id, u.part_id) order by u.part_id) = 1
         ), errors as (
           select tool_name, left(error, 300) as error, count(*) as n from call
           where status = 'error' and error is not null group by tool_name, left(error, 300)
           qualify row_number() over (partition by tool_name order by count(*) desc, left(error, 300)) <= ${Math.max(1, Math.floor(topErrors))}
         )
         select c.tool_name, count(*) as calls,
           count(*) filter (where c.status = 'error') as failures,
           count(*) filter (where c.status is null or c.status in ('pending', 'running')) as unfinished,
           count(c.duration_ms) filter (where c.duration_ms >= 0) as timed,
           quantile_cont(c.duration_ms, 0.5) filter (where c.duration_ms >= 0) as p50,
           quantile_cont(c.duration_ms, 0.95) filter (where c.duration_ms >= 0) as p95,
           (select list({'error': e.error, 'count': e.n} order by e.n desc, e.error) from errors e
             where e.tool_name = c.tool_name) as top_errors
         from call c group by c.tool_name order by calls desc, c.tool_name`,
        params as never,
      );
      const num = (value: unknown) =>
        value === null || value === undefined ? null : Number(value);
      return rows.map((row) => ({
        toolName: String(row.tool_name),
        calls: Number(row.calls),
        failures: Number(row.failures),
        unfinished: Number(row.unfinished),
        timedCalls: Number(row.timed),
        durationP50Ms: num(row.p50),
        durationP95Ms: num(row.p95),
        topErrors: ((row.top_errors ?? []) as { error: unknown; count: unknown }[]).map((e) => ({
          error: String(e.error),
          count: Number(e.count),
        })),
      }));
    },

    /**
     * A session's parts in transcript order, with their text and tool input cut to
     * PART_TEXT_MAX characters (the raw JSON keeps all of it).
     */
    async sessionParts(projectId: string, sessionKey: string, limit: number) {
      const rows = await duckdb.query(
        `select p.message_id, p.part_id, p.type, m.role, left(p.text, ${PART_TEXT_MAX}) as text,
                p.tool_name, p.call_id, p.tool_status, left(p.tool_input::varchar, ${PART_TEXT_MAX}) as tool_input,
                p.tool_error, p.child_ref, p.source_ref, epoch_ms(m.created_at) as created_at
         from monitor_part p
         left join monitor_message m on m.project_id = p.project_id and m.session_key = p.session_key
           and m.message_id = p.message_id
         where p.project_id = $1 and p.session_key = $2
         order by m.created_at nulls last, p.part_id limit $3`,
        [projectId, sessionKey, limit],
      );
      const text = (value: unknown) => (value === null ? null : String(value));
      return rows.map((row) => ({
        messageId: text(row.message_id),
        partId: String(row.part_id),
        type: String(row.type),
        role: text(row.role),
        text: text(row.text),
        toolName: text(row.tool_name),
        callId: text(row.call_id),
        toolStatus: text(row.tool_status),
        toolInput: text(row.tool_input),
        toolError: text(row.tool_error),
        childRef: text(row.child_ref),
        sourceRef: String(row.source_ref),
        createdAt: row.created_at === null ? null : Number(row.created_at),
      }));
    },

    /**
     * A session's exchanges: each user turn (a user message with text and no tool result —
     * Claude Code sends tool results as user lines) and what followed until the next one:
     * the model calls (counted once) and tool calls dated in that span, their tokens and cost,
     * and the last reply text. Undated messages and calls before the first turn are in none.
     */
    async sessionExchanges(projectId: string, sessionKey: string, limit: number) {
      const rows = await duckdb.query(
        `with msg as (
           select message_id, any_value(role) as role, min(created_at) as msg_at from monitor_message
           where project_id = $1 and session_key = $2 group by message_id
         ), part as (
           select p.message_id, p.part_id, p.type, p.text, m.role, m.msg_at from monitor_part p
           join msg m using (message_id)
           where p.project_id = $1 and p.session_key = $2
         ), turn as (
           select m.message_id, m.msg_at from msg m
           where m.role = 'user' and m.msg_at is not null
             and exists (select 1 from part p where p.message_id = m.message_id and p.type = 'text')
             and not exists (select 1 from part p where p.message_id = m.message_id and p.type = 'tool_result')
         ), span as (
           select message_id, msg_at, lead(msg_at) over (order by msg_at, message_id) as next_at,
                  row_number() over (order by msg_at, message_id) as n
           from turn
         )
         select s.n, s.message_id, epoch_ms(s.msg_at) as msg_at, epoch_ms(s.next_at) as next_at,
           (select left(string_agg(p.text, '
' order by p.part_id), ${EXCHANGE_TEXT_MAX}) from part p
             where p.message_id = s.message_id and p.type = 'text') as prompt,
           (select left(arg_max(p.text, p.msg_at), ${EXCHANGE_TEXT_MAX}) from part p
             where p.role = 'assistant' and p.type = 'text' and p.text is not null
               and p.msg_at >= s.msg_at and (s.next_at is null or p.msg_at < s.next_at)) as reply,
           (select epoch_ms(max(m.msg_at)) from msg m
             where m.role = 'assistant' and m.msg_at >= s.msg_at and (s.next_at is null or m.msg_at < s.next_at)) as last_reply_at,
           (select count(*) from part p where p.type in ('tool_use', 'tool')
             and p.msg_at >= s.msg_at and (s.next_at is null or p.msg_at < s.next_at)) as tool_calls,
           totals.*
         from span s
         left join lateral (
           select ${ROLLUP_TOTALS_SQL} from (
             select ${EVENT_AS_ROLLUP} from monitor_usage_event
             where project_id = $1 and counted and session_key = $2
               and ts >= s.msg_at and (s.next_at is null or ts < s.next_at)
           ) u
         ) totals on true
         order by s.n limit $3`,
        [projectId, sessionKey, limit],
      );
      const text = (value: unknown) =>
        value === null || value === undefined ? null : String(value);
      return rows.map((row) => ({
        index: Number(row.n),
        messageId: String(row.message_id),
        at: Number(row.msg_at),
        until: row.next_at === null ? null : Number(row.next_at),
        lastReplyAt: row.last_reply_at === null ? null : Number(row.last_reply_at),
        prompt: text(row.prompt),
        reply: text(row.reply),
        toolCalls: Number(row.tool_calls),
        ...totalsFrom(row),
      }));
    },

    async hasSession(projectId: string, sessionKey: string): Promise<boolean> {
      const rows = await duckdb.query(
        `select 1 from monitor_session where project_id = $1 and session_key = $2
         union all select 1 from monitor_message where project_id = $1 and session_key = $2
         limit 1`,
        [projectId, sessionKey],
      );
      return rows.length > 0;
    },

    /** A session's own model calls (counted once), in time order: its tokens per step. */
    async sessionSteps(projectId: string, sessionKey: string, limit: number) {
      const rows = await duckdb.query(
        `select u.event_key, u.message_id, epoch_ms(u.ts) as ts, u.provider, u.model,
                u.input, u.output, u.reasoning, u.cache_read, u.cache_write, u.cost_nano, u.cost_basis
         from ${DEDUPED_USAGE} u where u.session_key = $2
         order by u.ts nulls last, u.event_key limit $3`,
        [projectId, sessionKey, limit],
      );
      return rows.map((row) => ({
        eventKey: String(row.event_key),
        messageId: row.message_id === null ? null : String(row.message_id),
        at: row.ts === null ? null : Number(row.ts),
        provider: row.provider === null ? null : String(row.provider),
        model: row.model === null ? null : String(row.model),
        tokens: tokensFrom(row),
        costNano: row.cost_nano === null ? null : Number(row.cost_nano),
        costBasis: String(row.cost_basis),
      }));
    },

    async files(projectId: string) {
      const rows = await duckdb.query(
        `select f.file_id, f.source, f.kind, f.path, f.size, f.status, f.error, f.attempts,
                f.records, f.bad_lines, epoch_ms(f.indexed_at) as indexed_at,
                (select list({'line': b.line, 'reason': b.reason} order by b.line)[1:20]
                 from monitor_bad_line b where b.project_id = f.project_id and b.file_id = f.file_id) as bad
         from monitor_source_file f where f.project_id = $1 order by f.path`,
        [projectId],
      );
      return rows.map((row) => ({
        fileId: String(row.file_id),
        source: String(row.source),
        kind: String(row.kind),
        path: String(row.path),
        size: Number(row.size),
        status: String(row.status),
        error: row.error === null ? null : String(row.error),
        attempts: Number(row.attempts),
        records: Number(row.records),
        badLines: Number(row.bad_lines),
        badLineSamples: ((row.bad as { line: unknown; reason: unknown }[] | null) ?? []).map(
          (bad) => ({
            line: Number(bad.line),
            reason: String(bad.reason),
          }),
        ),
        indexedAt: Number(row.indexed_at),
      }));
    },

    /** Asks for a checkpoint in the background, after a bulk import (see DuckDb.checkpointSoon). */
    checkpointSoon(): void {
      duckdb.checkpointSoon();
    },

    /** The size of DuckDB's WAL: what its next checkpoint writes (0 for an in-memory one). */
    walBytes(): number {
      if (duckdb.path === ':memory:') return 0;
      return statSync(`${duckdb.path}.wal`, { throwIfNoEntry: false })?.size ?? 0;
    },
  };
}

export type MonitorStore = ReturnType<typeof createMonitorStore>;
