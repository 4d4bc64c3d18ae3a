// The floor of a DuckDB-native Claude Code import (issue 15, docs/monitor.md *Figures*): DuckDB
// is handed the transcripts to read itself, and the time it takes is set against
// `ccusage session --json --offline` on the same folder. An experiment, not the import: it does
// only what each step names, so its times are a lower bound of an import built that way.
//   (a) ccusage: `ccusage session --json --offline` (npm install --no-save ccusage@20.0.24);
//   (b) lines: every line into a table by DuckDB's CSV reader (one VARCHAR column, a control
//       byte as delimiter, no quotes — a valid JSON line cannot hold a raw control byte), with
//       its file and line number, then a checkpoint (the lines on disk, compressed);
//   (c) lines + usage: (b), then each line's fields by `from_json`, one usage row per
//       message.id + requestId (most output, the later line on ties), summed per session —
//       every bucket checked equal to ccusage's, per session, to the token — and priced;
//   (d) usage only: the usage straight from the files by `read_json` (nothing stored, no line
//       number: not lossless) — what counting alone costs DuckDB;
//   (e) texts + usage: each file's text as one row, the usage as in (d) with line numbers
//       checked against the text's newlines;
//   (f) copies + usage: each file's bytes copied (and synced) into a folder, the raw lines kept
//       there instead of in DuckDB, the usage as in (d), line numbers checked likewise;
//   (g) copies + parts + usage: (f), and a message row per line and a part row per content
//       block (text, tool name, call id, input) as the import writes them;
//   (h) copies + everything an import keeps: each file read once in JS, hashed (SHA-256),
//       copied and synced, its state row (size, mtime, offset, hash, records, bad lines); the
//       usage by `read_json` over the copies into monitor_usage_event, every event priced by
//       `priceUsage` (the stored sum checked against it, to the nano); a session row per file,
//       the agent links, the rollup, the session report from it, a checkpoint — in the
//       Monitor's own tables (monitor-tables.ts), messages and parts left in the copies; before
//       the rounds, checked equal to the import's parser on the test transcripts.
// Each round runs them in a rotating order (ccusage first in the first round), each DuckDB one
// in a fresh database file beside the tree; every per-session total is checked against
// ccusage's (a difference stops the run); wall and process CPU time (DuckDB's threads included;
// ccusage's from its waited-for processes) and each statement's CPU are printed.
//   ./scripts/with-node.sh node bench/monitor-native-floor.ts [MB …]   (default 64 256)
// BENCH_NATIVE_ROUNDS (default 3); the tree is written under TMPDIR (/dev/shm keeps disks out).
import { hash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIGINT, type DuckDBConnection, DuckDBDataChunk, DuckDBInstance } from '@duckdb/node-api';
import {
  CLAUDE_RECORD_TYPES,
  claudeFileInfo,
  parseClaudeTranscript,
} from '../src/monitor/monitor-claude-parser.ts';
import { priceUsage } from '../src/monitor/monitor-cost.ts';
import type { UsageRow } from '../src/monitor/monitor-records.ts';
import { ensureMonitorTablesOn, rollupInsertSql } from '../src/monitor/monitor-tables.ts';
import { writeClaudeProjects } from '../src/monitor/monitor-test-helpers.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { type CcusageSession, ccusageCommand, runCcusage } from './monitor-ccusage.ts';
import { writeClaudeTree } from './monitor-transcripts.ts';

const sizes = process.argv.slice(2).map(Number);
const ROUNDS = Number(process.env.BENCH_NATIVE_ROUNDS ?? 3);

/** Per session: the usage buckets as ccusage names them, and the cost (USD). */
interface SessionTotals {
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  costUsd: number;
}
type Totals = Map<string, SessionTotals>;

/**
 * A usage event of the bench's groups (columns input, output, cache_read, cache_write,
 * cache_write_1h: one call's tokens) at `ts`, for `priceUsage`.
 */
function groupUsage(
  group: Record<string, unknown>,
  ts: unknown,
  reportedCostNano: number | null,
): UsageRow {
  return {
    source: 'claude-code',
    eventKey: '',
    fallbackFor: null,
    sessionKey: '',
    messageId: null,
    ts: ts === null ? null : new Date(ts as Date),
    provider: 'anthropic',
    model: group.model === null ? null : String(group.model),
    input: Number(group.input),
    output: Number(group.output),
    reasoning: 0,
    cacheRead: Number(group.cache_read),
    cacheWrite: Number(group.cache_write),
    cacheWrite1h: Number(group.cache_write_1h),
    reportedCostNano,
    raw: null,
    sourceRef: '',
  };
}

const sqlString = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** Every line of the tree as one VARCHAR, in file order (the reader keeps insertion order). */
const linesOf = (glob: string) =>
  `read_csv(${sqlString(glob)}, columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '',
     escape = '', header = false, auto_detect = false, filename = true,
     max_line_size = 268435456) with ordinality`;

// The fields of a line the usage needs (docs/monitor.md, Counting rules), as `from_json` takes
// them (a JSON structure) and as `read_json` takes them (columns of DuckDB types).
type Fields = { [name: string]: string | Fields };
const LINE_FIELDS: Fields = {
  type: 'VARCHAR',
  sessionId: 'VARCHAR',
  uuid: 'VARCHAR',
  requestId: 'VARCHAR',
  timestamp: 'VARCHAR',
  costUSD: 'DOUBLE',
  message: {
    id: 'VARCHAR',
    model: 'VARCHAR',
    usage: {
      input_tokens: 'BIGINT',
      output_tokens: 'BIGINT',
      cache_read_input_tokens: 'BIGINT',
      cache_creation_input_tokens: 'BIGINT',
      cache_creation: { ephemeral_5m_input_tokens: 'BIGINT', ephemeral_1h_input_tokens: 'BIGINT' },
    },
  },
};
const duckType = (type: string | Fields): string =>
  typeof type === 'string'
    ? type
    : `STRUCT(${Object.entries(type)
        .map(([name, inner]) => `"${name}" ${duckType(inner)}`)
        .join(', ')})`;
// `unnest([…])` parses each line once: a plain `from_json(…) as v` is copied by DuckDB's filter
// pushdown into every condition on `v` below (parsed 5× over, 1.3 s against 0.3 s CPU for 64 MB).
const fromLine = `select file, n, unnest([from_json(line, ${sqlString(JSON.stringify(LINE_FIELDS))})]) as v
  from native_line`;
/** `read_json` over `glob` with `fields` as its columns (and the file name), numbered. */
const readJson = (glob: string | string[], fields: Fields) => `read_json(${
  Array.isArray(glob) ? `[${glob.map(sqlString).join(', ')}]` : sqlString(glob)
},
    format = 'newline_delimited', filename = true,
    columns = {${Object.entries(fields)
      .map(([name, type]) => `'${name}': ${sqlString(duckType(type))}`)
      .join(', ')}}) with ordinality`;
const fromFiles = (glob: string, fields: Fields = LINE_FIELDS) => `select filename as file,
    ordinality as n,
    {${Object.keys(fields)
      .map((name) => `'${name}': "${name}"`)
      .join(', ')}} as v
  from ${readJson(glob, fields)}`;

// (g) also stores a message row per line and a part row per content block: their fields too.
const MESSAGE_FIELDS: Fields = {
  ...LINE_FIELDS,
  message: { ...(LINE_FIELDS.message as Fields), role: 'VARCHAR', content: 'JSON' },
};

/**
 * One usage row per API call from rows holding `v` (the line's fields), `file` and `n` (its
 * order): the line with the most output, the later on ties; `<synthetic>` is no call.
 */
const usageSelect = (from: string) => `
  select file, n, v.sessionId as session_id, coalesce(v.message.id, v.uuid) as message_id,
    coalesce(v.requestId, '') as request_id,
    v.message.model as model, try_cast(v.timestamp as timestamptz) as ts, v.costUSD as cost_usd,
    coalesce(v.message.usage.input_tokens, 0) as input,
    coalesce(v.message.usage.output_tokens, 0) as output,
    coalesce(v.message.usage.cache_read_input_tokens, 0) as cache_read,
    case when v.message.usage.cache_creation is null
      then coalesce(v.message.usage.cache_creation_input_tokens, 0)
      else coalesce(v.message.usage.cache_creation.ephemeral_5m_input_tokens, 0)
        + coalesce(v.message.usage.cache_creation.ephemeral_1h_input_tokens, 0) end as cache_write,
    coalesce(v.message.usage.cache_creation.ephemeral_1h_input_tokens, 0) as cache_write_1h
  from (${from})
  where v.type = 'assistant' and v.message.usage is not null
    and (v.message.usage.input_tokens is not null or v.message.usage.output_tokens is not null)
    and v.message.model is distinct from '<synthetic>'
  qualify row_number() over (partition by coalesce(v.message.id, v.uuid), coalesce(v.requestId, '')
    order by coalesce(v.message.usage.output_tokens, 0) desc, n desc) = 1`;

// Process CPU and wall time per step (statement) of the current variant, summed over its rounds.
const stepCpuMs = new Map<string, number>();
const stepWallMs = new Map<string, number>();
let variantName = '';

/** Runs `work`, its CPU and wall time counted under `name` of the current variant. */
async function timedStep<T>(name: string, work: () => Promise<T>): Promise<T> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const key = `${variantName}: ${name}`;
  stepCpuMs.set(key, (stepCpuMs.get(key) ?? 0) + (used.user + used.system) / 1000);
  stepWallMs.set(key, (stepWallMs.get(key) ?? 0) + wall);
  return result;
}

/** Runs one statement, its CPU counted under `name` of the current variant. */
const step = (connection: DuckDBConnection, name: string, sql: string) =>
  timedStep(name, async () => (await connection.runAndReadAll(sql)).getRowObjectsJS());

/**
 * Per-session totals of the usage table, priced by the Monitor's own `priceUsage`: the events
 * are grouped by what their price depends on (model, tokens, reported cost, day), each group
 * priced once and multiplied — for the bench's calls, one group per model and day.
 */
async function sessionTotals(connection: DuckDBConnection): Promise<Totals> {
  const groups = await step(
    connection,
    'usage summed per session',
    `select session_id, model, date_trunc('day', ts) as day, cost_usd, input, output, cache_read,
       cache_write, cache_write_1h, count(*) as calls
     from native_usage group by all`,
  );
  const totals: Totals = new Map();
  for (const group of groups) {
    const calls = Number(group.calls);
    const tokens = groupUsage(
      group,
      group.day,
      group.cost_usd === null ? null : Math.round(Number(group.cost_usd) * 1e9),
    );
    const priced = priceUsage(tokens);
    const key = String(group.session_id);
    const total = totals.get(key) ?? {
      inputTokens: 0,
      outputTokens: 0,
      cacheCreationTokens: 0,
      cacheReadTokens: 0,
      costUsd: 0,
    };
    total.inputTokens += tokens.input * calls;
    total.outputTokens += tokens.output * calls;
    total.cacheCreationTokens += tokens.cacheWrite * calls;
    total.cacheReadTokens += tokens.cacheRead * calls;
    total.costUsd += ((priced.costNano ?? 0) * calls) / 1e9;
    totals.set(key, total);
  }
  return totals;
}

/** A fresh database file in `dir`, its work timed (wall, process CPU), then removed. */
async function timedDuckDb<T>(
  dir: string,
  work: (connection: DuckDBConnection) => Promise<T>,
  check?: (connection: DuckDBConnection) => Promise<void>,
): Promise<{ ms: number; cpuMs: number; result: T }> {
  const file = path.join(dir, `native-${Date.now()}-${Math.random()}.duckdb`);
  // No checkpoint but the ones asked for (DuckDB's default is one past 16 MB of WAL), so each
  // is timed as its own step.
  const instance = await DuckDBInstance.create(file, { wal_autocheckpoint: '1TB' });
  const connection = await instance.connect();
  try {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const result = await work(connection);
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    // Checks of what the work wrote, outside its time.
    await check?.(connection);
    return { ms, cpuMs: (used.user + used.system) / 1000, result };
  } finally {
    connection.closeSync();
    instance.closeSync();
    rmSync(file, { force: true });
    rmSync(`${file}.wal`, { force: true });
  }
}

/** (b): the lines with file and ordinal, and each file's first ordinal (line = n − first + 1). */
async function storeLines(connection: DuckDBConnection, glob: string): Promise<number> {
  await step(
    connection,
    'lines read into a table',
    `create table native_line as select filename as file, ordinality as n, line
     from ${linesOf(glob)}`,
  );
  await step(connection, 'checkpoint of the lines (compressed on disk)', 'checkpoint');
  await step(
    connection,
    "each file's first ordinal",
    `create table native_file as select file, min(n) as first_n, max(n) as last_n,
       count(*) as lines from native_line group by file`,
  );
  // The ordinals of a file must be consecutive, or the line numbers derived from them are wrong.
  const [check] = await step(
    connection,
    'line ordinals checked',
    `select sum(lines) as lines, count(*) filter (where last_n - first_n + 1 <> lines) as gaps
     from native_file`,
  );
  if (Number(check?.gaps) !== 0) throw new Error(`${check?.gaps} files with non-consecutive lines`);
  return Number(check?.lines);
}

/**
 * (e): each file's text as one row (a line is a range of it), the usage from `read_json`
 * (fromFiles). Its ordinals are line numbers only where the file has no blank or unreadable
 * line (read_json skips blank lines): checked per file against the newlines of its text.
 */
async function storeTexts(connection: DuckDBConnection, glob: string): Promise<Totals> {
  await step(
    connection,
    'file texts read into a table',
    `create table native_text as select filename as file, content from read_text(${sqlString(glob)})`,
  );
  await step(connection, 'checkpoint of the texts', 'checkpoint');
  await step(
    connection,
    'records parsed by read_json',
    `create temp table native_parsed as ${fromFiles(glob)}`,
  );
  const totals = await storeUsage(connection, 'select * from native_parsed');
  const [check] = await step(
    connection,
    'lines of each file against its records',
    `select count(*) filter (where newlines is distinct from records) as differ from (
       select file, length(content) - length(replace(content, chr(10), '')) as newlines
       from native_text)
     full join (select file, max(n) - min(n) + 1 as records from native_parsed group by file)
       using (file)`,
  );
  if (Number(check?.differ) !== 0) throw new Error(`${check?.differ} files with blank lines`);
  return totals;
}

/**
 * (f): each file's bytes copied (and synced) into a folder beside the database — the raw lines
 * kept outside DuckDB, a usage row pointing at its file and line — and the usage from
 * `read_json`, whose ordinals are line numbers only where a file's records are its lines: the
 * newlines counted in the copied bytes are checked against them.
 */
async function keepCopies(
  connection: DuckDBConnection,
  glob: string,
  files: string[],
  keptDir: string,
  withParts: boolean,
): Promise<Totals> {
  const lines = await timedStep('files copied, newlines counted', async () => {
    mkdirSync(keptDir);
    const counted = new Map<string, number>();
    for (const [index, file] of files.entries()) {
      const bytes = readFileSync(file);
      const copy = openSync(path.join(keptDir, `${index}.jsonl`), 'w');
      try {
        writeSync(copy, bytes);
        fsyncSync(copy);
      } finally {
        closeSync(copy);
      }
      let newlines = 0;
      for (let at = bytes.indexOf(10); at !== -1; at = bytes.indexOf(10, at + 1)) newlines++;
      const unterminated = bytes.length > 0 && bytes[bytes.length - 1] !== 10 ? 1 : 0;
      counted.set(file, newlines + unterminated);
    }
    return counted;
  });
  await step(
    connection,
    'records parsed by read_json',
    `create temp table native_parsed as ${fromFiles(glob, withParts ? MESSAGE_FIELDS : LINE_FIELDS)}`,
  );
  if (withParts) {
    await step(
      connection,
      'message rows (one per line)',
      `create table native_message as select file, n, v.uuid as uuid, v.type as type,
         v.sessionId as session_id, v.message.role as role, v.message.model as model,
         try_cast(v.timestamp as timestamptz) as ts
       from native_parsed`,
    );
    // As the import does: a block's text, tool name, call id and input; its JSON is the line's.
    await step(
      connection,
      'part rows (one per content block)',
      `create table native_part as select file, n, i - 1 as block,
         coalesce(block ->> 'type', 'other') as type,
         case block ->> 'type' when 'text' then block ->> 'text'
           when 'thinking' then block ->> 'thinking' end as text,
         case when block ->> 'type' = 'tool_use' then block ->> 'name' end as tool_name,
         case block ->> 'type' when 'tool_use' then block ->> 'id'
           when 'tool_result' then block ->> 'tool_use_id' end as call_id,
         case when block ->> 'type' = 'tool_use' then block -> 'input' end as tool_input
       from (select file, n, unnest(blocks) as block, generate_subscripts(blocks, 1) as i
             from (select file, n, json_extract(v.message.content, '$[*]') as blocks
                   from native_parsed where json_type(v.message.content) = 'ARRAY'))`,
    );
    // The bench's lines hold one text block each.
    const [parts] = await step(
      connection,
      'parts counted',
      `select count(*) filter (where type = 'text' and length(text) = 300) as n from native_part`,
    );
    if (Number(parts?.n) !== files.reduce((sum, file) => sum + (lines.get(file) ?? 0), 0))
      throw new Error(`${parts?.n} text parts`);
  }
  const totals = await storeUsage(connection, 'select * from native_parsed');
  const records = await step(
    connection,
    'records per file',
    'select file, max(n) - min(n) + 1 as records from native_parsed group by file',
  );
  const differ = records.filter((row) => lines.get(String(row.file)) !== Number(row.records));
  if (differ.length > 0 || records.length !== files.length)
    throw new Error(`${differ.length} files whose records are not their lines`);
  return totals;
}

async function storeUsage(connection: DuckDBConnection, from: string): Promise<Totals> {
  await step(
    connection,
    'usage rows (one per call)',
    `create table native_usage as ${usageSelect(from)}`,
  );
  await step(connection, 'checkpoint of the usage', 'checkpoint');
  return sessionTotals(connection);
}

// (h) reads these besides the usage: the session's place, branch and title.
const SESSION_FIELDS: Fields = {
  ...LINE_FIELDS,
  cwd: 'VARCHAR',
  gitBranch: 'VARCHAR',
  summary: 'VARCHAR',
};
// What links a sub-agent to the call that started it, read again from the few files that name
// an agent (DuckDB's JSON for fields whose shape varies by line: `toolUseResult` is a string on
// some, `data` is a progress record's).
const LINK_FIELDS: Fields = {
  type: 'VARCHAR',
  parentToolUseID: 'VARCHAR',
  toolUseResult: 'JSON',
  data: 'JSON',
  message: { content: 'JSON' },
};
/** The bytes every line naming a sub-agent holds (`toolUseResult.agentId`, `data.agentId`). */
const AGENT_ID_KEY = Buffer.from('"agentId"');

/** Per file of (h): its state as read in JS, and what its path says (claudeFileInfo). */
const STATE_COLUMNS = `file_id varchar, path varchar, size bigint, mtime_ms bigint,
  byte_offset bigint, content_hash varchar, lines bigint, path_session_id varchar,
  agent_id varchar, agent_name varchar`;

/** A sub-agent's type from the `agent-<id>.meta.json` beside its transcript, as the import reads it. */
function agentTypeFromMeta(transcript: string): string | null {
  try {
    const meta = JSON.parse(readFileSync(transcript.replace(/\.jsonl$/, '.meta.json'), 'utf8'));
    return typeof meta?.agentType === 'string' ? meta.agentType : null;
  } catch {
    return null;
  }
}

/** Each file of (h) read once: hashed, copied and synced, its state row appended. */
async function copyFiles(
  connection: DuckDBConnection,
  files: string[],
  keptDir: string,
): Promise<string[]> {
  mkdirSync(keptDir);
  const naming: string[] = [];
  const appender = await connection.createAppender('native_state');
  for (const file of files) {
    const fileId = uuidv7();
    const source = openSync(file, 'r');
    let bytes: Buffer;
    let mtimeMs: number;
    try {
      mtimeMs = Math.trunc(fstatSync(source).mtimeMs);
      bytes = readFileSync(source);
    } finally {
      closeSync(source);
    }
    const kept = path.join(keptDir, `${fileId}.jsonl`);
    const copy = openSync(kept, 'w');
    try {
      writeSync(copy, bytes);
      fsyncSync(copy);
    } finally {
      closeSync(copy);
    }
    if (bytes.includes(AGENT_ID_KEY)) naming.push(kept);
    let newlines = 0;
    for (let at = bytes.indexOf(10); at !== -1; at = bytes.indexOf(10, at + 1)) newlines++;
    const unterminated = bytes.length > 0 && bytes[bytes.length - 1] !== 10 ? 1 : 0;
    const info = claudeFileInfo(file);
    appender.appendVarchar(fileId);
    appender.appendVarchar(file);
    appender.appendBigInt(BigInt(bytes.length));
    appender.appendBigInt(BigInt(mtimeMs));
    // Up to the end of the last complete line: a partial one is read again from there.
    appender.appendBigInt(BigInt(bytes.lastIndexOf(10) + 1));
    appender.appendVarchar(hash('sha256', bytes, 'hex'));
    appender.appendBigInt(BigInt(newlines + unterminated));
    appender.appendVarchar(info.sessionIdFromPath);
    const agentName = info.agentId === null ? null : agentTypeFromMeta(file);
    for (const value of [info.agentId, agentName]) {
      if (value === null) appender.appendNull();
      else appender.appendVarchar(value);
    }
    appender.endRow();
  }
  appender.closeSync();
  return naming;
}

/**
 * (h)'s agent links: from the copies that name an agent (`naming`), the parent's Task/Agent
 * call (its type and description) and the result or progress record naming the agent, per
 * file, the last naming a call winning — as the parser's maps do.
 */
async function linkAgents(connection: DuckDBConnection, naming: string[]): Promise<void> {
  if (naming.length === 0) return;
  await connection.run(
    `insert into monitor_agent_link
     with line as (
       select parse_filename(filename, true) as file, ordinality as n, type,
         case when type = 'progress' then parentToolUseID end as progress_call,
         case when type = 'progress' then (data ->> 'agentId') end as progress_agent,
         (toolUseResult ->> 'agentId') as result_agent, message.content as blocks
       from ${readJson(naming, LINK_FIELDS)}),
     block as (
       select file, n, result_agent, unnest(json_extract(blocks, '$[*]')) as b
       from line where json_type(blocks) = 'ARRAY'),
     delegation as (
       select file, (b ->> 'id') as call_id, (b -> 'input' ->> 'subagent_type') as agent_type,
         (b -> 'input' ->> 'description') as description
       from block where (b ->> 'type') = 'tool_use' and (b ->> 'name') in ('Task', 'Agent')
       qualify row_number() over (partition by file, call_id order by n desc) = 1),
     named as (
       select file, n, (b ->> 'tool_use_id') as call_id, result_agent as agent
       from block where result_agent is not null and (b ->> 'type') = 'tool_result'
       union all select file, n, progress_call, progress_agent from line
       where progress_agent is not null and progress_call is not null)
     select 'bench', f.file_id, 'claude-code', f.session_id, a.agent, a.call_id, d.agent_type,
       d.description
     from named a join native_file f on f.file_id = a.file
     left join delegation d on d.file = a.file and d.call_id = a.call_id
     qualify row_number() over (partition by a.file, a.call_id order by a.n desc) = 1`,
  );
}

/**
 * (h)'s events priced by the Monitor's own priceUsage (a tiered price's float steps are the
 * catalog's), every event on its own: read back in one query — numbers only, the model as an
 * index into the few distinct names (strings cost the read 10× a number) — and the costs
 * appended by row id in chunks. Returns the events and their cost summed (nano-USD).
 */
async function priceEvents(connection: DuckDBConnection): Promise<{ events: number; sum: bigint }> {
  const names = (
    await connection.runAndReadAll(
      `create temp table native_model as select model, (row_number() over ())::integer - 1 as code
       from (select distinct model from native_event where model is not null);
       select model from native_model order by code`,
    )
  ).getColumnsJS()[0] as string[];
  const [ids, codes, ms, reported, input, output, cacheRead, cacheWrite, cacheWrite1h] = (
    await connection.runAndReadAll(
      `select e.rowid as id, m.code, epoch_ms(e.ts)::double, round(e.cost_usd * 1e9)::double,
         e.input::double, e.output::double, e.cache_read::double, e.cache_write::double,
         e.cache_write_1h::double
       from native_event e left join native_model m on m.model = e.model`,
    )
  ).getColumnsJS() as [bigint[], (number | null)[], ...(number | null)[][]];
  await connection.run('create table native_cost (id bigint, cost_nano bigint)');
  const appender = await connection.createAppender('native_cost');
  let sum = 0n;
  for (let from = 0; from < ids.length; from += 2048) {
    const size = Math.min(2048, ids.length - from);
    const costs: (bigint | null)[] = new Array(size);
    for (let i = 0; i < size; i++) {
      const row = from + i;
      const code = codes[row];
      const at = ms![row];
      const { costNano } = priceUsage({
        source: 'claude-code',
        eventKey: '',
        fallbackFor: null,
        sessionKey: '',
        messageId: null,
        ts: at === null || at === undefined ? null : new Date(at),
        provider: 'anthropic',
        model: code === null || code === undefined ? null : names[code]!,
        input: input![row]!,
        output: output![row]!,
        reasoning: 0,
        cacheRead: cacheRead![row]!,
        cacheWrite: cacheWrite![row]!,
        cacheWrite1h: cacheWrite1h![row]!,
        reportedCostNano: reported![row] ?? null,
        raw: null,
        sourceRef: '',
      });
      costs[i] = costNano === null ? null : BigInt(costNano);
      if (costNano !== null) sum += BigInt(costNano);
    }
    const chunk = DuckDBDataChunk.create([BIGINT, BIGINT], size);
    chunk.setColumnValues(0, ids.slice(from, from + size));
    chunk.setColumnValues(1, costs);
    appender.appendDataChunk(chunk);
  }
  appender.closeSync();
  return { events: ids.length, sum };
}

/**
 * (h): everything a Claude Code import that keeps its lines as file copies would still do
 * (docs/monitor.md, Figures): each file read once, hashed, copied and synced, its state row;
 * the usage from `read_json` over the copies into monitor_usage_event (raw null: read from
 * the copy), each event priced by `priceUsage`; a session per file, the agent links, the
 * rollup and the session report from it; a checkpoint. The tables are the Monitor's own
 * (monitor-tables.ts). Returns the session report's totals.
 */
async function importKept(
  connection: DuckDBConnection,
  files: string[],
  keptDir: string,
): Promise<Totals> {
  await timedStep('tables created', () => ensureMonitorTablesOn(connection));
  await step(connection, 'state table', `create table native_state (${STATE_COLUMNS})`);
  const naming = await timedStep('files read, hashed, copied + synced, state rows', () =>
    copyFiles(connection, files, keptDir),
  );
  // One parse of every line: the usage's fields and the session's.
  await step(
    connection,
    'records parsed by read_json (from the copies)',
    `create temp table native_parsed as select parse_filename(filename, true) as file,
       ordinality as n, {${Object.keys(LINE_FIELDS)
         .map((name) => `'${name}': "${name}"`)
         .join(', ')}} as v,
       try_cast(timestamp as timestamptz) as line_ts, cwd, gitBranch as git_branch, summary
     from ${readJson(path.join(keptDir, '*.jsonl'), SESSION_FIELDS)}`,
  );
  // A session per file, from the lines of a type Claude Code writes (the parser's bad lines
  // aside): its id from the lines (a main transcript) or the path (a sub-agent's); its records
  // are the messages the import keeps (a user or assistant line only with its message).
  await step(
    connection,
    'sessions (one per file)',
    `create table native_file as
     select s.* exclude (path_session_id),
       case when s.agent_id is null then coalesce(f.first_session, s.path_session_id)
         else s.path_session_id end as session_id,
       f.* exclude (file)
     from native_state s join (
       select file, max(n) - min(n) + 1 as record_lines, min(n) as first_n,
         count(*) filter (where known and v.type <> 'progress'
           and (v.type not in ('user', 'assistant') or v.message is not null)) as records,
         arg_min(v.sessionId, n) filter (where known and v.sessionId is not null)
           as first_session,
         min(line_ts) filter (where known) as started_at,
         max(line_ts) filter (where known) as ended_at,
         arg_min(cwd, n) filter (where known and cwd is not null) as cwd,
         arg_min(git_branch, n) filter (where known and git_branch is not null) as git_branch,
         arg_min(summary, n) filter (where known and v.type = 'summary' and summary is not null)
           as title
       from (select *, v.type in (${CLAUDE_RECORD_TYPES.map(sqlString).join(', ')}) as known
             from native_parsed)
       group by file) f on f.file = s.file_id;
     insert into monitor_session select 'bench', file_id, 'claude-code',
       'cc:' || session_id || coalesce(':' || agent_id, ''), session_id, agent_id,
       case when agent_id is null then 'main' when agent_id like 'acompact%' then 'compaction'
         else 'subagent' end,
       case when agent_id like 'acompact%' then 'compaction' else agent_name end,
       case when agent_id is not null then session_id end, title, cwd, git_branch, records,
       started_at, ended_at, null, 'file'
     from native_file`,
  );
  // The file's state row: its records (every JSON line; the session's exclude progress records,
  // as the import's do) and its lines without a record — read_json numbers records, so a line
  // number is one only where these are 0 (else the file would go to the JS parser).
  await step(
    connection,
    'state rows',
    `insert into monitor_source_file select 'bench', file_id, 'claude-code', 'claude-transcript',
       path, size, mtime_ms, byte_offset, content_hash, 'indexed', null, 1, 1, record_lines,
       lines - record_lines, now(), null
     from native_file`,
  );
  const [bad] = await step(
    connection,
    'bad lines counted',
    `select count(*) as files, sum(bad_lines) as bad from monitor_source_file`,
  );
  if (Number(bad?.bad) !== 0 || Number(bad?.files) !== files.length)
    throw new Error(`${bad?.bad} lines without a record in ${bad?.files} files`);
  await timedStep('agent links', () => linkAgents(connection, naming));
  await step(
    connection,
    'usage rows (one per call)',
    `create temp table native_event as ${usageSelect('select * from native_parsed')}`,
  );
  const priced = await timedStep('events priced by priceUsage (JS)', () => priceEvents(connection));
  await step(
    connection,
    'usage events written',
    `insert into monitor_usage_event select 'bench', e.file, 'claude-code',
       'cc:' || e.message_id || ':' || e.request_id, null, f.session_key, e.message_id, e.ts,
       'anthropic', e.model, e.input, e.output, 0, e.cache_read, e.cache_write, e.cache_write_1h,
       round(e.cost_usd * 1e9)::bigint, c.cost_nano,
       case when round(e.cost_usd * 1e9) > 0 then 'reported' when c.cost_nano is null
         then 'unpriced' else 'computed' end,
       null, 'line:' || (e.n - f.first_n + 1), true
     from native_event e join native_cost c on c.id = e.rowid
     join (select file_id, first_n, 'cc:' || session_id || coalesce(':' || agent_id, '')
           as session_key from native_file) f on f.file_id = e.file`,
  );
  const [written] = await step(
    connection,
    'usage events checked',
    'select count(*) as events, coalesce(sum(cost_nano), 0)::varchar as cost from monitor_usage_event',
  );
  if (Number(written?.events) !== priced.events || BigInt(String(written?.cost)) !== priced.sum)
    throw new Error(`usage written ${JSON.stringify(written)} against ${priced.sum} priced`);
  await step(
    connection,
    'work tables dropped',
    'drop table native_state; drop table native_cost; drop table native_file',
  );
  await step(connection, 'rollup', rollupInsertSql(''));
  const report = await step(
    connection,
    'session report (from the rollup)',
    `with usage as (
       select session_key, sum(input) as input, sum(output) as output,
         sum(cache_read) as cache_read, sum(cache_write) as cache_write,
         sum(cost_nano)::varchar as cost_nano
       from monitor_usage_rollup where project_id = 'bench' group by session_key)
     select s.session_key, s.session_id, s.agent_id, s.records, l.agent_type, u.*
       exclude (session_key)
     from monitor_session s left join usage u using (session_key)
     left join (select child_ref, any_value(agent_type) as agent_type from monitor_agent_link
       group by child_ref) l on l.child_ref = s.agent_id
     where s.project_id = 'bench' order by s.started_at, s.session_key`,
  );
  await step(connection, 'checkpoint', 'checkpoint');
  const totals: Totals = new Map();
  for (const row of report) {
    totals.set(String(row.session_id), {
      inputTokens: Number(row.input),
      outputTokens: Number(row.output),
      cacheCreationTokens: Number(row.cache_write),
      cacheReadTokens: Number(row.cache_read),
      costUsd: row.cost_nano === null ? 0 : Number(BigInt(String(row.cost_nano))) / 1e9,
    });
  }
  return totals;
}

/**
 * (h)'s prices against `priceUsage` over the same events, apart from the per-event pricing:
 * the events grouped by what their price depends on, each group priced once; the sum must be
 * equal to the nano, and every stored event's basis what priceUsage says.
 */
async function checkKeptPrices(connection: DuckDBConnection): Promise<void> {
  const groups = (
    await connection.runAndReadAll(
      `select model, ts, round(reported_cost_nano)::bigint as reported, input, output,
         cache_read, cache_write, cache_write_1h, cost_basis, count(*) as calls,
         sum(cost_nano)::varchar as stored
       from monitor_usage_event group by all`,
    )
  ).getRowObjectsJS();
  let expected = 0n;
  let stored = 0n;
  for (const group of groups) {
    const priced = priceUsage(
      groupUsage(group, group.ts, group.reported === null ? null : Number(group.reported)),
    );
    if (priced.basis !== group.cost_basis)
      throw new Error(`basis ${group.cost_basis} stored, priceUsage says ${priced.basis}`);
    expected += BigInt(priced.costNano ?? 0) * BigInt(group.calls as bigint);
    stored += group.stored === null ? 0n : BigInt(String(group.stored));
  }
  if (expected !== stored) throw new Error(`stored cost ${stored} nano, priceUsage ${expected}`);
}

/**
 * (h) against the import's own parser on the Monitor's test transcripts (writeClaudeProjects:
 * a Task sub-agent with a .meta.json-less type, a compaction agent, streamed calls, a 1-hour
 * cache write, an unpriced model, records of unknown type) with their invalid-JSON lines left
 * out — a file holding one would go to the parser: every session, agent link and usage event
 * (key, session, line, tokens, cost and basis) must be what parseClaudeTranscript and
 * priceUsage give. A difference stops the run.
 */
async function checkAgainstParser(dir: string): Promise<void> {
  const { projects } = writeClaudeProjects(dir);
  const files = readdirSync(projects, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.jsonl'))
    .map((name) => path.join(projects, name))
    .sort();
  const expected = {
    sessions: new Set<string>(),
    links: new Set<string>(),
    usage: new Map<string, UsageRow>(),
  };
  for (const file of files) {
    const valid = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => {
        try {
          return typeof JSON.parse(line) === 'object';
        } catch {
          return false;
        }
      });
    const text = `${valid.join('\n')}\n`;
    writeFileSync(file, text);
    const parsed = parseClaudeTranscript(text, {
      ...claudeFileInfo(file),
      agentTypeFromMeta: agentTypeFromMeta(file),
    });
    for (const session of parsed.sessions)
      expected.sessions.add(
        JSON.stringify([
          session.sessionKey,
          session.sessionId,
          session.agentId,
          session.agentKind,
          session.agentName,
          session.parentSessionId,
          session.title,
          session.cwd,
          session.gitBranch,
          session.records,
          session.startedAt?.getTime() ?? null,
          session.endedAt?.getTime() ?? null,
        ]),
      );
    for (const link of parsed.links)
      expected.links.add(
        JSON.stringify([
          link.sessionId,
          link.childRef,
          link.callId,
          link.agentType,
          link.description,
        ]),
      );
    // Across files, the store counts the copy with the most output (the later on ties).
    for (const row of parsed.usage) {
      const kept = expected.usage.get(row.eventKey);
      if (!kept || row.output >= kept.output) expected.usage.set(row.eventKey, row);
    }
  }
  const usageRow = (row: UsageRow) => {
    const priced = priceUsage(row);
    return JSON.stringify([
      row.eventKey,
      row.sessionKey,
      row.sourceRef,
      row.model,
      row.ts?.getTime() ?? null,
      row.input,
      row.output,
      row.cacheRead,
      row.cacheWrite,
      row.cacheWrite1h,
      priced.costNano,
      priced.basis,
    ]);
  };
  const want = {
    sessions: [...expected.sessions].sort(),
    links: [...expected.links].sort(),
    usage: [...expected.usage.values()].map(usageRow).sort(),
  };
  variantName = 'parser check';
  const keptDir = path.join(dir, 'kept-check');
  await timedDuckDb(
    dir,
    (connection) => importKept(connection, files, keptDir),
    async (connection) => {
      await checkKeptPrices(connection);
      const rows = async (sql: string) =>
        (await connection.runAndReadAll(sql))
          .getRowsJS()
          .map((row) =>
            JSON.stringify(row.map((value) => (typeof value === 'bigint' ? Number(value) : value))),
          );
      const got = {
        sessions: await rows(
          `select session_key, session_id, agent_id, agent_kind, agent_name, parent_session_id,
             title, cwd, git_branch, records, epoch_ms(started_at), epoch_ms(ended_at)
           from monitor_session`,
        ),
        links: await rows(
          'select session_id, child_ref, call_id, agent_type, description from monitor_agent_link',
        ),
        usage: await rows(
          `select event_key, session_key, source_ref, model, epoch_ms(ts), input, output,
             cache_read, cache_write, cache_write_1h, cost_nano, cost_basis
           from monitor_usage_event`,
        ),
      };
      for (const table of ['sessions', 'links', 'usage'] as const) {
        const mine = got[table].sort();
        if (JSON.stringify(mine) !== JSON.stringify(want[table]))
          throw new Error(
            `(h) ${table} differ from the parser's:\n  ${mine.join('\n  ')}\nagainst\n  ${want[table].join('\n  ')}`,
          );
      }
    },
  );
  rmSync(keptDir, { recursive: true, force: true });
  stepCpuMs.clear();
  stepWallMs.clear();
  console.log(
    `(h) checked against the parser on the test transcripts: ${want.sessions.length} sessions, ` +
      `${want.links.length} agent links, ${want.usage.length} usage events equal`,
  );
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const load = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');

/** Our per-session totals against ccusage's: every bucket equal, the cost within 1 %. */
function compare(ours: Totals, peer: CcusageSession[]): string[] {
  const problems: string[] = [];
  if (ours.size !== peer.length)
    problems.push(`${ours.size} sessions against ccusage's ${peer.length}`);
  for (const session of peer) {
    const mine = ours.get(session.period);
    const buckets = [
      'inputTokens',
      'outputTokens',
      'cacheCreationTokens',
      'cacheReadTokens',
    ] as const;
    if (!mine || buckets.some((bucket) => mine[bucket] !== session[bucket])) {
      problems.push(`session ${session.period}: ours ${JSON.stringify(mine)}`);
    } else if (Math.abs(mine.costUsd / session.totalCost - 1) > 0.01) {
      problems.push(`session ${session.period}: cost ${mine.costUsd} against ${session.totalCost}`);
    }
  }
  return problems.slice(0, 5);
}

const checkDir = mkdtempSync(path.join(os.tmpdir(), 'monitor-native-check-'));
try {
  await checkAgainstParser(checkDir);
} finally {
  rmSync(checkDir, { recursive: true, force: true });
}

const ccusage = ccusageCommand();
if (!ccusage) throw new Error('ccusage not found: npm install --no-save ccusage@20.0.24');
const variants = [
  'ccusage',
  'lines',
  'lines+usage',
  'texts+usage',
  'copies+usage',
  'copies+parts+usage',
  'usage only',
  'copies+everything',
] as const;
type Variant = (typeof variants)[number];

for (const mb of sizes.length > 0 ? sizes : [64, 256]) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-native-'));
  try {
    const tree = writeClaudeTree(path.join(dir, 'claude'), mb);
    const glob = path.join(dir, 'claude', 'projects', '**', '*.jsonl');
    const lineCount = tree.calls * 3;
    const projects = path.join(dir, 'claude', 'projects');
    const files = readdirSync(projects, { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.jsonl'))
      .map((name) => path.join(projects, name));
    console.log(
      `${(tree.bytes / 1024 / 1024).toFixed(0)} MB: ${tree.calls} calls in ${lineCount} lines; ` +
        `load ${load()}`,
    );
    let peerSessions: CcusageSession[] | undefined;
    let peerCost = 0;
    const checked = new Set<Variant>();
    const figures = new Map<Variant, { ms: number[]; cpuMs: number[] }>(
      variants.map((variant) => [variant, { ms: [], cpuMs: [] }]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
      const line: string[] = [];
      for (const variant of order) {
        let ms: number;
        let cpuMs: number | undefined;
        if (variant === 'ccusage') {
          const peer = await runCcusage(ccusage, path.join(dir, 'claude'));
          ({ ms, cpuMs } = peer);
          peerSessions = peer.sessions;
          peerCost = peer.totals.totalCost;
        } else {
          variantName = variant;
          const keptDir = path.join(dir, 'kept');
          const run = await timedDuckDb(
            dir,
            async (connection) => {
              if (variant === 'usage only') return storeUsage(connection, fromFiles(glob));
              if (variant === 'texts+usage') return storeTexts(connection, glob);
              if (variant === 'copies+usage')
                return keepCopies(connection, glob, files, keptDir, false);
              if (variant === 'copies+parts+usage')
                return keepCopies(connection, glob, files, keptDir, true);
              if (variant === 'copies+everything') return importKept(connection, files, keptDir);
              const lines = await storeLines(connection, glob);
              if (lines !== lineCount) throw new Error(`stored ${lines} of ${lineCount} lines`);
              if (variant === 'lines') return undefined;
              return storeUsage(connection, fromLine);
            },
            variant === 'copies+everything' ? checkKeptPrices : undefined,
          );
          rmSync(keptDir, { recursive: true, force: true });
          ({ ms, cpuMs } = run);
          if (run.result) {
            const output = [...run.result.values()].reduce((sum, s) => sum + s.outputTokens, 0);
            if (output !== tree.calls * 300) throw new Error(`${variant}: ${output} output tokens`);
            const problems = compare(run.result, peerSessions ?? []);
            if (problems.length > 0)
              throw new Error(`${variant} differs from ccusage: ${problems.join('; ')}`);
            checked.add(variant);
          }
        }
        figures.get(variant)!.ms.push(ms);
        if (cpuMs !== undefined) figures.get(variant)!.cpuMs.push(cpuMs);
        line.push(
          `${variant} ${(ms / 1000).toFixed(2)} s / CPU ${((cpuMs ?? 0) / 1000).toFixed(2)} s`,
        );
      }
      console.log(`  round ${round + 1}: ${line.join(', ')}; load ${load()}`);
    }
    console.log(
      `  ${[...checked].join(', ')}: equal to ccusage in every session, every bucket to the ` +
        `token, cost within 1 % (ccusage $${peerCost.toFixed(3)})`,
    );
    const peer = figures.get('ccusage')!;
    for (const variant of variants) {
      const { ms, cpuMs } = figures.get(variant)!;
      console.log(
        `  median ${variant}: wall ${(median(ms) / 1000).toFixed(2)} s ` +
          `(÷ ccusage ${(median(ms) / median(peer.ms)).toFixed(2)}), ` +
          `CPU ${(median(cpuMs) / 1000).toFixed(2)} s (÷ ccusage ${(median(cpuMs) / median(peer.cpuMs)).toFixed(2)})`,
      );
    }
    // Each step's share of its variant's time over the rounds (wall, CPU).
    const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
    for (const [name, ms] of stepCpuMs) {
      const totals = figures.get(name.slice(0, name.indexOf(': ')) as Variant)!;
      const wallMs = stepWallMs.get(name) ?? 0;
      console.log(
        `  per round of ${name}: wall ${(wallMs / ROUNDS / 1000).toFixed(2)} s ` +
          `(${((100 * wallMs) / sum(totals.ms)).toFixed(0)} %), CPU ${(ms / ROUNDS / 1000).toFixed(2)} s ` +
          `(${((100 * ms) / sum(totals.cpuMs)).toFixed(0)} %)`,
      );
    }
    stepCpuMs.clear();
    stepWallMs.clear();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
