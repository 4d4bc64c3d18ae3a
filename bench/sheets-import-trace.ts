// Where one import's time goes: our import of a CSV (the bench's generated file, or one given)
// with every DuckDB statement timed, wall and CPU of the process, and the three phases summed
// (before the read: text scan and sniff; the read; after it: numbering, state columns, commit).
// Not a bench (run.ts runs only *.bench.ts):
//   ./scripts/with-node.sh node bench/sheets-import-trace.ts [ROWS | FILE]   (default 3,000,000 rows)
// CPU is that of the whole process while the statement ran: the text scan runs on Node's thread
// at the same time as the sniff, so the sniff's CPU includes it.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { openSheetsBench, writeCsv } from './sheets-bench-helpers.ts';

const argument = process.argv[2] ?? '3000000';
const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-import-trace-'));
const file = existsSync(argument) ? argument : path.join(dir, 'trace.csv');
if (file !== argument) await writeCsv(file, Number(argument));

const cpuMs = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};
const statements: { sql: string; startMs: number; ms: number; cpuMs: number }[] = [];
let origin: number | undefined;
let cpuOrigin = 0;
// `runAndReadAll` sends its statement through `run`: timing `run` sees every statement once.
const run = DuckDBConnection.prototype.run;
DuckDBConnection.prototype.run = async function (this: DuckDBConnection, ...args) {
  const started = performance.now();
  const cpu = cpuMs();
  try {
    return await run.apply(this, args);
  } finally {
    if (origin !== undefined)
      statements.push({
        sql: String(args[0]).replace(/\s+/g, ' '),
        startMs: started - origin,
        ms: performance.now() - started,
        cpuMs: cpuMs() - cpu,
      });
  }
};

/**
 * The DuckDB settings our import's instance runs with that differ from a bare instance's (the
 * bench's peer): a setting that slows the read shows here.
 */
async function printSettingsAgainstPeer() {
  const settings = async (connection: { runAndReadAll(sql: string): Promise<unknown> }) => {
    const reader = (await connection.runAndReadAll(
      'select name, value from duckdb_settings() order by name',
    )) as { getRowObjectsJS(): { name: string; value: string | null }[] };
    return new Map(reader.getRowObjectsJS().map((row) => [row.name, row.value]));
  };
  const ours = await bench.platform.duckdb.withConnection(settings);
  const peerDir = mkdtempSync(path.join(os.tmpdir(), 'braincells-import-trace-peer-'));
  const peer = await DuckDBInstance.create(path.join(peerDir, 'peer.duckdb'));
  const peerConnection = await peer.connect();
  const theirs = await settings(peerConnection);
  peerConnection.closeSync();
  peer.closeSync();
  rmSync(peerDir, { recursive: true, force: true });
  // Paths differ by nature (temp directory, extension directory): not settings of the read.
  const differences = [...ours]
    .filter(([name, value]) => theirs.get(name) !== value && !/directory|path/.test(name))
    .map(([name, value]) => `${name}: ours ${value}, peer ${theirs.get(name)}`);
  console.log(`settings that differ from a bare instance: ${differences.join('; ') || 'none'}`);
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
  await printSettingsAgainstPeer();
  const round = (value: number) => String(Math.round(value)).padStart(7);
  for (const entry of statements)
    console.log(
      `${round(entry.startMs)} ms ${round(entry.ms)} ms ${round(entry.cpuMs)} ms CPU  ${process.env.TRACE_FULL_SQL ? entry.sql : entry.sql.slice(0, 100)}`,
    );
  // The read is the statement that creates the table from read_csv, or the parts' inserts.
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
    }),
  );
} finally {
  await bench.close();
  rmSync(dir, { recursive: true, force: true });
}
