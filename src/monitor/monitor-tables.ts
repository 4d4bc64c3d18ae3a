import type { DuckDBConnection, DuckDb } from '../platform/duckdb/duckdb.ts';

/**
 * The monitor's analytics tables in DuckDB. Fixed names, never built from user text; the
 * project id is a column. Every row keeps its raw JSON (a Claude Code part or usage event by
 * reference to its line's: read them through `monitor_part_json` / `monitor_usage_json`) and
 * where it came from (`file_id` + `source_ref`: a line number, or a database table and row
 * id), so a field we do not read today can be read later without re-importing. A file's rows
 * carry its `file_id`: re-importing the file deletes them and writes the new ones in one
 * transaction.
 *
 * Token buckets are disjoint: total = input + output + reasoning + cache_read + cache_write
 * (cache_write includes cache_write_1h, which is kept apart because it is priced 2× input).
 * Costs are integer nano-USD; `cost_nano` is NULL when the price is unknown, never 0.
 */
export const MONITOR_SCHEMA_VERSION = 5;

const DDL = [
  `create table if not exists monitor_source_file (
    project_id varchar not null,
    file_id varchar not null,
    source varchar not null,
    kind varchar not null,
    path varchar not null,
    size bigint not null,
    mtime_ms bigint not null,
    byte_offset bigint not null,
    content_hash varchar,
    status varchar not null,
    error varchar,
    attempts integer not null,
    parser_version integer not null,
    records integer not null,
    bad_lines integer not null,
    indexed_at timestamptz not null
  )`,
  `create table if not exists monitor_bad_line (
    project_id varchar not null,
    file_id varchar not null,
    line bigint not null,
    reason varchar not null
  )`,
  `create table if not exists monitor_session (
    project_id varchar not null,
    file_id varchar not null,
    source varchar not null,
    session_key varchar not null,
    session_id varchar not null,
    agent_id varchar,
    agent_kind varchar not null,
    agent_name varchar,
    parent_session_id varchar,
    title varchar,
    cwd varchar,
    git_branch varchar,
    records integer not null,
    started_at timestamptz,
    ended_at timestamptz,
    raw json,
    source_ref varchar not null
  )`,
  `create table if not exists monitor_message (
    project_id varchar not null,
    file_id varchar not null,
    session_key varchar not null,
    message_id varchar not null,
    role varchar,
    model varchar,
    provider varchar,
    created_at timestamptz,
    raw json,
    source_ref varchar not null
  )`,
  `create table if not exists monitor_part (
    project_id varchar not null,
    file_id varchar not null,
    session_key varchar not null,
    message_id varchar,
    part_id varchar not null,
    type varchar not null,
    text varchar,
    tool_name varchar,
    call_id varchar,
    tool_status varchar,
    tool_input json,
    tool_output varchar,
    tool_error varchar,
    child_ref varchar,
    raw json,
    source_ref varchar not null
  )`,
  // Who ran a sub-agent: written from the parent's transcript (its Task call and the result
  // naming the agent), joined to the sub-agent's own session at query time, so the files may
  // be imported in any order and replaced one by one.
  `create table if not exists monitor_agent_link (
    project_id varchar not null,
    file_id varchar not null,
    source varchar not null,
    session_id varchar not null,
    child_ref varchar not null,
    call_id varchar,
    agent_type varchar,
    description varchar
  )`,
  `create table if not exists monitor_usage_event (
    project_id varchar not null,
    file_id varchar not null,
    source varchar not null,
    event_key varchar not null,
    fallback_for varchar,
    session_key varchar not null,
    message_id varchar,
    ts timestamptz,
    provider varchar,
    model varchar,
    input bigint not null,
    output bigint not null,
    reasoning bigint not null,
    cache_read bigint not null,
    cache_write bigint not null,
    cache_write_1h bigint not null,
    reported_cost_nano bigint,
    cost_nano bigint,
    cost_basis varchar not null,
    raw json,
    source_ref varchar not null,
    counted boolean not null
  )`,
  // (Step 1 created an index on monitor_source_file (project_id, path): see step 4.)
  // Step 2: where a transcript's parse stopped (monitor-claude-parser.ts ClaudeCheckpoint), so
  // an appended tail is read alone.
  'alter table monitor_source_file add column if not exists parser_state json',
  // (Step 2 created an index on monitor_usage_event (project_id, ts): see step 4.)
  // Step 3: counted usage summed per session, UTC quarter-hour, source, provider and model
  // (see ROLLUP_SHAPE); `quarter_ms` is null for undated events. Filled from the events when
  // the table is created, then kept by every write (monitor-store.ts replaceFiles).
  `create table if not exists monitor_usage_rollup (
    project_id varchar not null,
    session_key varchar not null,
    quarter_ms bigint,
    source varchar not null,
    provider varchar,
    model varchar,
    first_ms bigint,
    last_ms bigint,
    events bigint not null,
    input bigint not null,
    output bigint not null,
    reasoning bigint not null,
    cache_read bigint not null,
    cache_write bigint not null,
    cost_nano bigint,
    unpriced bigint not null,
    reported bigint not null,
    computed bigint not null
  )`,
  // Step 4: no secondary indexes. DuckDB's planner used neither (a compound ART key is not used
  // for `project_id = … and ts >= …` or `project_id = … and path in (…)`: EXPLAIN shows
  // sequential scans, pruned by zone maps), while every append, delete and checkpoint kept them
  // up. Their `create` statements left steps 1 and 2 (an `if not exists` create would build them
  // again over every row before this drop); a database that has them loses them here.
  'drop index if exists monitor_source_file_path',
  'drop index if exists monitor_usage_event_project',
  // Step 5: a Claude Code part that is `message.content[i]` of its line, and a Claude Code
  // usage event (`message.usage`), store no raw JSON of their own (null): their line is kept
  // whole, as written, in its message row (same file_id and source_ref), and these views read
  // the piece from it. Storing each block again doubled the bytes a transcript costs to write
  // (docs/monitor.md, Figures). Rows written before keep their own raw JSON, which wins.
  `create or replace view monitor_part_json as
   select p.* replace (coalesce(p.raw, json_extract(m.raw,
     '$.message.content[' || split_part(p.part_id, ':', -1) || ']')) as raw)
   from monitor_part p left join monitor_message m
     on p.raw is null and m.project_id = p.project_id and m.file_id = p.file_id
       and m.source_ref = p.source_ref`,
  `create or replace view monitor_usage_json as
   select e.* replace (coalesce(e.raw, json_extract(m.raw, '$.message.usage')) as raw)
   from monitor_usage_event e left join monitor_message m
     on e.raw is null and m.project_id = e.project_id and m.file_id = e.file_id
       and m.source_ref = e.source_ref`,
];

/** Tables a file's rows live in (all but monitor_source_file), in deletion order. */
export const FILE_TABLES = [
  'monitor_bad_line',
  'monitor_session',
  'monitor_message',
  'monitor_part',
  'monitor_agent_link',
  'monitor_usage_event',
] as const;

/**
 * Creates the tables when missing. A later change adds a numbered step here (like a
 * migration) and bumps MONITOR_SCHEMA_VERSION; a step never changes once shipped — but for
 * step 4, which took two `create index` statements out of steps 1 and 2 (every database ends
 * the same: without them).
 */
export async function ensureMonitorTables(duckdb: DuckDb): Promise<void> {
  await duckdb.withConnection(ensureMonitorTablesOn);
}

/**
 * ensureMonitorTables on one connection, in its current database (`use`): the carry-over
 * (monitor-carry-over.ts) makes a project file's tables through the data dir's instance.
 */
export async function ensureMonitorTablesOn(connection: DuckDBConnection): Promise<void> {
  const existing = await connection.runAndReadAll(
    `select count(*) as n from duckdb_tables()
     where table_name = 'monitor_usage_rollup' and database_name = current_database()`,
  );
  const hadRollup = Number(existing.getRowObjectsJS()[0]?.n ?? 0) > 0;
  for (const statement of DDL) await connection.run(statement);
  // Events imported before the rollup existed: summed once, here.
  if (!hadRollup) await connection.run(rollupInsertSql(''));
}

/** Usage reports group events by UTC quarter-hour: every zone's offset is a multiple of it. */
export const QUARTER_MS = 900_000;

/** An event's UTC quarter-hour (null for an undated event), as EVENT_AS_ROLLUP puts it. */
export const EVENT_QUARTER_SQL = `floor(epoch_ms(ts) / ${QUARTER_MS})::bigint * ${QUARTER_MS}`;

/**
 * One counted event in the shape of a rollup row (without the project id): the reports read
 * either relation the same way, so the events answer what the rollup answers (tested).
 */
export const EVENT_AS_ROLLUP = `session_key, source, provider, model,
  ${EVENT_QUARTER_SQL} as quarter_ms,
  epoch_ms(ts) as first_ms, epoch_ms(ts) as last_ms, 1::bigint as events,
  input, output, reasoning, cache_read, cache_write, cost_nano,
  (cost_basis = 'unpriced')::bigint as unpriced, (cost_basis = 'reported')::bigint as reported,
  (cost_basis = 'computed')::bigint as computed`;

/**
 * Sums counted events into rollup rows: of every project (`where` empty), or of the project
 * `$1` and the sessions a `where` clause names (e.g. those in a temporary table).
 */
export function rollupInsertSql(where: string): string {
  return `insert into monitor_usage_rollup
    select project_id, session_key, quarter_ms, source, provider, model,
      min(first_ms), max(last_ms), sum(events), sum(input), sum(output), sum(reasoning),
      sum(cache_read), sum(cache_write), sum(cost_nano), sum(unpriced), sum(reported),
      sum(computed)
    from (select project_id, ${EVENT_AS_ROLLUP} from monitor_usage_event where counted ${where})
    group by project_id, session_key, quarter_ms, source, provider, model`;
}

/**
 * Replaces the rollup rows of the sessions in the temporary table monitor_rollup_keys
 * (session_key) of project `$1` by sums of their counted events: exact whatever the write
 * changed (rows replaced, appended, or counted again after a copy elsewhere came or went).
 */
export const ROLLUP_REFRESH_SQL = [
  `delete from monitor_usage_rollup where project_id = $1
     and session_key in (select session_key from monitor_rollup_keys)`,
  rollupInsertSql(
    'and project_id = $1 and session_key in (select session_key from monitor_rollup_keys)',
  ),
];

/**
 * Replaces the rollup rows of the (session, quarter-hour) pairs in the temporary table
 * monitor_rollup_quarters (session_key, quarter_ms; a null quarter for undated events) of
 * project `$1` by sums of their counted events. A live cycle appends a few calls to each
 * grown session, all in its last quarter-hours: summing those quarters again costs what the
 * cycle wrote, where summing whole sessions again costs every event they ever had.
 * `fromMs` is the start of the earliest dated quarter in the table (null when there is
 * none): events before it are skipped by DuckDB's zone maps on `ts` without being read.
 * The pairs are joined, not tested with `exists`: the table holds each pair once, so the rows
 * are the same, and DuckDB plans the join without the delim join and distinct an `exists`
 * costs (a live cycle's 1,000 pairs over 100,000 events: CPU 29–34 against 36–45 ms).
 */
export function rollupQuarterRefreshSql(fromMs: number | null): string[] {
  const dated =
    fromMs === null
      ? 'ts is null'
      : `(ts is null or ts >= to_timestamp(${Math.trunc(fromMs) / 1000}))`;
  return [
    `delete from monitor_usage_rollup r using monitor_rollup_quarters k
     where r.project_id = $1 and r.session_key = k.session_key
       and r.quarter_ms is not distinct from k.quarter_ms`,
    `insert into monitor_usage_rollup
     select project_id, e.session_key, e.quarter_ms, source, provider, model,
       min(first_ms), max(last_ms), sum(events), sum(input), sum(output), sum(reasoning),
       sum(cache_read), sum(cache_write), sum(cost_nano), sum(unpriced), sum(reported),
       sum(computed)
     from (select project_id, ${EVENT_AS_ROLLUP} from monitor_usage_event
           where counted and project_id = $1 and ${dated}) e
     join monitor_rollup_quarters k
       on k.session_key = e.session_key and k.quarter_ms is not distinct from e.quarter_ms
     group by project_id, e.session_key, e.quarter_ms, source, provider, model`,
  ];
}

/**
 * Usage events counted once. Claude Code's copies of one API message (a resumed session
 * repeats earlier lines in a new file) keep the one with the most output; an OpenCode
 * message's own tokens count only when it has no step-finish parts. `counted` holds that
 * answer, kept up to date by every write (monitor-store.ts, recount), so reports are plain
 * aggregates. `$1` is the project id.
 */
export const DEDUPED_USAGE = `(
  select * from monitor_usage_event where project_id = $1 and counted
)`;

/**
 * Recomputes `counted` for the events of the keys and messages in the temporary table
 * monitor_affected (every key a write added or removed, and their messages). `$1` is the
 * project id. Only rows whose answer changes are written: new rows arrive counted, and most
 * stay so, and an update costs DuckDB far more than the read that decides it.
 */
export const RECOUNT_SQL = `
  update monitor_usage_event set counted = r.keep
  from (
    select e.rowid as rid,
      row_number() over (
        partition by e.event_key order by e.output desc, e.file_id, e.source_ref
      ) = 1
      and (e.fallback_for is null or e.fallback_for not in (
        select s.message_id from monitor_usage_event s
        where s.project_id = $1 and s.source = 'opencode' and s.fallback_for is null
          and s.message_id is not null
      )) as keep
    from monitor_usage_event e
    where e.project_id = $1 and (
      e.event_key in (select event_key from monitor_affected)
      or e.fallback_for in (select message_id from monitor_affected where message_id is not null)
    )
  ) r
  where monitor_usage_event.rowid = r.rid and monitor_usage_event.counted <> r.keep`;
