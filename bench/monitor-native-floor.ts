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
//       block (text, tool name, call id, input) as the import writes them.
// Each round runs them in a rotating order (ccusage first in the first round), each DuckDB one
// in a fresh database file beside the tree; every per-session total is checked against
// ccusage's (a difference stops the run); wall and process CPU time (DuckDB's threads included;
// ccusage's from its waited-for processes) and each statement's CPU are printed.
//   ./scripts/with-node.sh node bench/monitor-native-floor.ts [MB …]   (default 64 256)
// BENCH_NATIVE_ROUNDS (default 3); the tree is written under TMPDIR (/dev/shm keeps disks out).
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { priceUsage } from '../src/monitor/monitor-cost.ts';
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
const fromFiles = (glob: string, fields: Fields = LINE_FIELDS) => `select filename as file,
    ordinality as n,
    {${Object.keys(fields)
      .map((name) => `'${name}': "${name}"`)
      .join(', ')}} as v
  from read_json(${sqlString(glob)}, format = 'newline_delimited', filename = true,
    columns = {${Object.entries(fields)
      .map(([name, type]) => `'${name}': ${sqlString(duckType(type))}`)
      .join(', ')}}) with ordinality`;

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

// Process CPU per step (statement) of the current variant, summed over its rounds.
const stepCpuMs = new Map<string, number>();
let variantName = '';

/** Runs `work`, its CPU counted under `name` of the current variant. */
async function timedStep<T>(name: string, work: () => Promise<T>): Promise<T> {
  const cpu = process.cpuUsage();
  const result = await work();
  const used = process.cpuUsage(cpu);
  const key = `${variantName}: ${name}`;
  stepCpuMs.set(key, (stepCpuMs.get(key) ?? 0) + (used.user + used.system) / 1000);
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
    const tokens = {
      input: Number(group.input),
      output: Number(group.output),
      reasoning: 0,
      cacheRead: Number(group.cache_read),
      cacheWrite: Number(group.cache_write),
      cacheWrite1h: Number(group.cache_write_1h),
    };
    const priced = priceUsage({
      ...tokens,
      source: 'claude-code',
      eventKey: '',
      fallbackFor: null,
      sessionKey: '',
      messageId: null,
      ts: group.day === null ? null : new Date(group.day as Date),
      provider: 'anthropic',
      model: group.model === null ? null : String(group.model),
      reportedCostNano: group.cost_usd === null ? null : Math.round(Number(group.cost_usd) * 1e9),
      raw: null,
      sourceRef: '',
    });
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
          const run = await timedDuckDb(dir, async (connection) => {
            if (variant === 'usage only') return storeUsage(connection, fromFiles(glob));
            if (variant === 'texts+usage') return storeTexts(connection, glob);
            if (variant === 'copies+usage')
              return keepCopies(connection, glob, files, keptDir, false);
            if (variant === 'copies+parts+usage')
              return keepCopies(connection, glob, files, keptDir, true);
            const lines = await storeLines(connection, glob);
            if (lines !== lineCount) throw new Error(`stored ${lines} of ${lineCount} lines`);
            if (variant === 'lines') return undefined;
            return storeUsage(connection, fromLine);
          });
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
    for (const [name, ms] of stepCpuMs) {
      console.log(`  CPU per round of ${name}: ${(ms / ROUNDS / 1000).toFixed(2)} s`);
    }
    stepCpuMs.clear();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
