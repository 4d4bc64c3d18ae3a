// Where one import's time goes: our import of a CSV (the bench's generated file, or one given)
// with every DuckDB statement timed, wall and CPU of the process, and the three phases summed
// (before the read: text scan and sniff; the read; after it: numbering, state columns, commit).
// Not a bench (run.ts runs only *.bench.ts):
//   ./scripts/with-node.sh node bench/sheets-import-trace.ts [ROWS | FILE]   (default 3,000,000 rows)
// CPU is that of the whole process while the statement ran: the text scan runs on Node's thread
// at the same time as the sniff, so the sniff's CPU includes it. The read's CPU is also split
// by thread kind (DuckDB's workers vs Node's main thread vs V8's GC workers), and DuckDB's own
// CTAS of the same file then runs in a bare instance in this process, with the settings that
// differ between the two instances printed: ours against the peer in one sitting.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { openSheetsBench, writeCsv } from './sheets-bench-helpers.ts';
import { threadKind, threadCpu as threadsNow } from './thread-cpu.ts';

const argument = process.argv[2] ?? '3000000';
const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-import-trace-'));
const file = existsSync(argument) ? argument : path.join(dir, 'trace.csv');
if (file !== argument) await writeCsv(file, Number(argument));

const cpuMs = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};
/** CPU (ms) of the process's threads by kind (thread-cpu.ts): the read's split below. */
function threadCpu(): Record<'js' | 'v8' | 'workers', number> {
  const split = { js: 0, v8: 0, workers: 0 };
  for (const { name, ms } of threadsNow().values()) split[threadKind(name)] += ms;
  return split;
}
const threadsSince = (before: ReturnType<typeof threadCpu>) => {
  const now = threadCpu();
  return { js: now.js - before.js, v8: now.v8 - before.v8, workers: now.workers - before.workers };
};

const statements: {
  sql: string;
  startMs: number;
  ms: number;
  cpuMs: number;
  threads: ReturnType<typeof threadCpu>;
}[] = [];
let origin: number | undefined;
let cpuOrigin = 0;
// `runAndReadAll` sends its statement through `run`: timing `run` sees every statement once.
const run = DuckDBConnection.prototype.run;
DuckDBConnection.prototype.run = async function (this: DuckDBConnection, ...args) {
  const started = performance.now();
  const cpu = cpuMs();
  const threads = threadCpu();
  try {
    return await run.apply(this, args);
  } finally {
    if (origin !== undefined)
      statements.push({
        sql: String(args[0]).replace(/\s+/g, ' '),
        startMs: started - origin,
        ms: performance.now() - started,
        cpuMs: cpuMs() - cpu,
        threads: threadsSince(threads),
      });
  }
};

/**
 * DuckDB's own CTAS of the same file in a bare instance in this process, right after ours (the
 * bench's peer, same sitting, warm page cache), and the DuckDB settings of our import's
 * instance that differ from that bare instance's: a setting that slows the read shows here.
 */
async function peerRead() {
  const settings = async (connection: { runAndReadAll(sql: string): Promise<unknown> }) => {
    const reader = (await connection.runAndReadAll(
      'select name, value from duckdb_settings() order by name',
    )) as { getRowObjectsJS(): { name: string; value: string | null }[] };
    return new Map(reader.getRowObjectsJS().map((row) => [row.name, row.value]));
  };
  const ours = await bench.platform.duckdb.withConnection(settings);
  const peerDir = mkdtempSync(path.join(os.tmpdir(), 'braincells-import-trace-peer-'));
  const peer = await DuckDBInstance.create(path.join(peerDir, 'peer.duckdb'));
  const connection = await peer.connect();
  try {
    const theirs = await settings(connection);
    // Paths differ by nature (temp directory, extension directory): not settings of the read.
    const differences = [...ours]
      .filter(([name, value]) => theirs.get(name) !== value && !/directory|path/.test(name))
      .map(([name, value]) => `${name}: ours ${value}, peer ${theirs.get(name)}`);
    console.log(`settings that differ from a bare instance: ${differences.join('; ') || 'none'}`);
    const started = performance.now();
    const cpu = cpuMs();
    const threads = threadCpu();
    await connection.run(
      `create table peer as select * from read_csv('${file.replaceAll("'", "''")}')`,
    );
    return {
      ms: Math.round(performance.now() - started),
      cpuMs: Math.round(cpuMs() - cpu),
      threads: threadsSince(threads),
    };
  } finally {
    connection.closeSync();
    peer.closeSync();
    rmSync(peerDir, { recursive: true, force: true });
  }
}

const bench = await openSheetsBench();
try {
  origin = performance.now();
  cpuOrigin = cpuMs();
  const row = await bench.module.imports.createFromPath(bench.actor, bench.projectId, {
    path: file,
  });
  await bench.module.imports.startImport(bench.actor, bench.projectId, row.id, undefined, false);
  const result = await bench.module.imports.executeImport(row.id);
  const total = { ms: performance.now() - origin, cpuMs: cpuMs() - cpuOrigin };
  origin = undefined;
  if (result?.status !== 'succeeded') throw new Error(`import ${result?.status}`);
  const round = (value: number) => String(Math.round(value)).padStart(7);
  for (const entry of statements)
    console.log(
      `${round(entry.startMs)} ms ${round(entry.ms)} ms ${round(entry.cpuMs)} ms CPU  ${process.env.TRACE_FULL_SQL ? entry.sql : entry.sql.slice(0, 100)}`,
    );
  // The read is the statement that creates the table from read_csv (or, on builds before
  // 2026-12-07, the inserts of the parts a 16–128 MiB file was cut into).
  const reads = statements.filter(
    (entry) =>
      / read_csv\(/.test(entry.sql) &&
      !/ limit 0$/.test(entry.sql) &&
      /^(create table|insert into)/.test(entry.sql),
  );
  const readStart = Math.min(...reads.map((entry) => entry.startMs));
  const readEnd = Math.max(...reads.map((entry) => entry.startMs + entry.ms));
  const sum = (list: typeof statements) => list.reduce((all, entry) => all + entry.cpuMs, 0);
  // Parts run at once: each one's CPU is the process's, so the read's CPU is the longest one's.
  const readCpu = Math.max(...reads.map((entry) => entry.cpuMs));
  const after = statements.filter((entry) => entry.startMs >= readEnd);
  // Ours first, then the peer's: the file is as warm for it as for ours (the sniff read it).
  const peer = await peerRead();
  const longest = reads.reduce((best, entry) => (entry.cpuMs > best.cpuMs ? entry : best));
  console.log(
    JSON.stringify({
      rows: result.rowsImported,
      loadAverage: os.loadavg().map((value) => Math.round(value * 10) / 10),
      totalMs: Math.round(total.ms),
      totalCpuMs: Math.round(total.cpuMs),
      beforeReadMs: Math.round(readStart),
      readMs: Math.round(readEnd - readStart),
      readCpuMs: Math.round(readCpu),
      afterReadMs: Math.round(total.ms - readEnd),
      afterReadStatementsCpuMs: Math.round(sum(after)),
      // The read's CPU by thread kind (threadCpu), and DuckDB's own CTAS of the file after it.
      readThreadsCpuMs: longest.threads,
      peerCtas: peer,
      readOverPeer: {
        wall: Math.round(((readEnd - readStart) / peer.ms) * 100) / 100,
        cpu: Math.round((readCpu / peer.cpuMs) * 100) / 100,
      },
    }),
  );
} finally {
  await bench.close();
  rmSync(dir, { recursive: true, force: true });
}
