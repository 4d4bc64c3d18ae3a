// Where a Monitor import's CPU goes, independent of the machine's load: CPU time
// (process.cpuUsage) and V8's profiler around importTree of generated logs, summarised by
// package / our file (bench-profile.ts). Not a benchmark row: run it to compare two builds.
//   ./scripts/with-node.sh node bench/monitor-profile.ts claude 100   (MB of JSONL)
//   ./scripts/with-node.sh node bench/monitor-profile.ts opencode 20000   (files)
//   ./scripts/with-node.sh node bench/monitor-profile.ts claude-sql 100   (the SQL probe below)
// BENCH_PROFILE_DIR=<dir> also writes the .cpuprofile/.heapprofile files there.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importTree } from '../src/monitor/monitor-import.ts';
import { createMonitorStore } from '../src/monitor/monitor-store.ts';
import { ensureMonitorTables } from '../src/monitor/monitor-tables.ts';
import { openDuckDb } from '../src/platform/duckdb/duckdb.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { profiled } from './bench-profile.ts';
import { writeClaudeTree, writeOpenCodeTree } from './monitor-transcripts.ts';

const kind =
  process.argv[2] === 'opencode' || process.argv[2] === 'claude-sql' ? process.argv[2] : 'claude';
const size = Number(process.argv[3] ?? (kind === 'opencode' ? 20_000 : 100));

/**
 * A probe, not an import (docs/monitor.md, Figures): DuckDB reads the transcripts itself and
 * writes their messages, parts and usage (one per message.id + requestId, most output, last
 * line on ties) in SQL — none of the rest (prices, sessions, links, bad lines, recount,
 * rollup). Its CPU against `claude` says whether handing DuckDB the files could be cheaper.
 */
const claudeSqlProbe = (glob: string) => [
  `create temp table l as select filename, unnest(ls) as line, generate_subscripts(ls, 1) as line_no
   from (select filename, string_split(content, chr(10)) as ls from read_text('${glob}'))`,
  `create temp table j as select filename, line_no, line,
     json_extract_string(line, ['$.type', '$.sessionId', '$.uuid', '$.timestamp', '$.requestId',
       '$.message.id', '$.message.model', '$.message.role', '$.costUSD']) as v,
     json_extract(line, ['$.message.content', '$.message.usage']) as o
   from l where line <> '' and json_valid(line)`,
  `insert into monitor_message select $1, filename, 'cc:' || v[2], coalesce(v[3], 'line:' || line_no),
     coalesce(v[8], v[1]), v[7], case when v[1] = 'assistant' then 'anthropic' end,
     try_cast(v[4] as timestamptz), line, 'line:' || line_no from j`,
  `insert into monitor_part select $1, filename, 'cc:' || v[2], coalesce(v[3], 'line:' || line_no),
     coalesce(v[3], 'line:' || line_no) || ':' || (i - 1), coalesce(block->>'type', 'other'),
     case block->>'type' when 'text' then block->>'text' when 'thinking' then block->>'thinking' end,
     case when block->>'type' = 'tool_use' then block->>'name' end,
     case block->>'type' when 'tool_use' then block->>'id' when 'tool_result' then block->>'tool_use_id' end,
     null, block->'input', null, null, null, null, 'line:' || line_no
   from (select *, unnest(json_extract(o[1], '$[*]')) as block,
           generate_subscripts(json_extract(o[1], '$[*]'), 1) as i
         from j where json_type(o[1]) = 'ARRAY')`,
  `insert into monitor_usage_event select $1, filename, 'claude-code',
     'cc:' || coalesce(v[6], v[3]) || ':' || coalesce(v[5], ''), null, 'cc:' || v[2],
     coalesce(v[6], v[3]), try_cast(v[4] as timestamptz), 'anthropic', v[7],
     coalesce(try_cast(o[2]->>'input_tokens' as bigint), 0),
     coalesce(try_cast(o[2]->>'output_tokens' as bigint), 0), 0,
     coalesce(try_cast(o[2]->>'cache_read_input_tokens' as bigint), 0),
     coalesce(try_cast(o[2]->>'$.cache_creation.ephemeral_5m_input_tokens' as bigint), 0)
       + coalesce(try_cast(o[2]->>'$.cache_creation.ephemeral_1h_input_tokens' as bigint), 0),
     coalesce(try_cast(o[2]->>'$.cache_creation.ephemeral_1h_input_tokens' as bigint), 0),
     try_cast(v[9] as double) * 1e9, null, 'unpriced', null, 'line:' || line_no, true
   from j where v[1] = 'assistant' and o[2] is not null and v[7] <> '<synthetic>'
   qualify row_number() over (partition by filename, coalesce(v[6], v[3]), v[5]
     order by try_cast(o[2]->>'output_tokens' as bigint) desc, line_no desc) = 1`,
  'drop table j',
  'drop table l',
];
const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-profile-'));
try {
  const root =
    kind === 'opencode' ? path.join(dir, 'storage') : path.join(dir, 'claude', 'projects');
  if (kind !== 'opencode') writeClaudeTree(path.join(dir, 'claude'), size);
  else writeOpenCodeTree(root, size);
  const duckdb = await openDuckDb({ path: path.join(dir, 'profile.duckdb'), connections: 4 });
  try {
    await ensureMonitorTables(duckdb);
    const store = createMonitorStore(duckdb);
    const projectId = uuidv7();
    const cpu = process.cpuUsage();
    const started = performance.now();
    const run = async () => {
      if (kind === 'claude-sql') {
        await duckdb.transaction(async (connection) => {
          for (const statement of claudeSqlProbe(`${root}/**/*.jsonl`))
            await connection.run(statement, statement.includes('$1') ? [projectId] : undefined);
        });
        const [rows] = await duckdb.query(
          `select (select count(*) from monitor_message) as messages,
             (select count(*) from monitor_part) as parts,
             (select count(*) from monitor_usage_event) as usage`,
        );
        process.stderr.write(
          `probe wrote ${JSON.stringify(rows, (_key, value) => (typeof value === 'bigint' ? Number(value) : value))}\n`,
        );
        return;
      }
      const result = await importTree({
        store,
        projectId,
        root,
        source: kind === 'opencode' ? 'opencode' : 'claude-code',
        // The checkpoint is run below, in the foreground, to be counted.
        bulkImportRows: Number.POSITIVE_INFINITY,
      });
      process.stderr.write(
        `imported ${JSON.stringify({ ...result, failed: result.failed.length })}\n`,
      );
    };
    if (process.env.BENCH_PROFILE_DIR)
      await profiled(process.env.BENCH_PROFILE_DIR, `monitor-${kind}`, 1, run);
    else await run();
    const used = process.cpuUsage(cpu);
    process.stderr.write(
      `monitor-profile ${kind} ${size}: wall ${Math.round(performance.now() - started)} ms, ` +
        `CPU user ${Math.round(used.user / 1000)} ms + system ${Math.round(used.system / 1000)} ms\n`,
    );
    // What the import leaves to DuckDB's next checkpoint (asked for in the background after a
    // bulk import): writing its rows to the file, compressed. Counted with the import's CPU.
    await duckdb.run('checkpoint');
    const all = process.cpuUsage(cpu);
    process.stderr.write(
      `with the checkpoint: wall ${Math.round(performance.now() - started)} ms, ` +
        `CPU ${Math.round((all.user + all.system) / 1000)} ms\n`,
    );
  } finally {
    await duckdb.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
