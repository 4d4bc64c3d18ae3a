// Child process of sheets-import.bench.ts and of the bounded-memory import test
// (src/sheets/import/sheet-import-memory.test.ts), so the peak RSS belongs to one import alone.
//   node bench/sheets-import-child.ts braincells FILE   → our import (service + job code path)
//   node bench/sheets-import-child.ts duckdb FILE       → DuckDB's own CREATE TABLE AS read_csv
// BRAINCELLS_DUCKDB_THREADS, when set, pins DuckDB's threads in both modes.
//
// Opening the platform (PGlite and its migrations) peaks far above what an import needs, so
// the peak is reset (`/proc/self/clear_refs`, Linux ≥ 4.0) right before the import starts:
// `peakRssMiB` is the highest RSS while importing, `baseRssMiB` the RSS when it started.
// CPU by thread name (Linux): `importThreadsMs` while importing (the window of `cpuMs`),
// `threadsMs` from the process's start to the end (after the background checkpoint, before
// closing): whatever else the process runs shows there, by thread.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { datasetTable } from '../src/sheets/sheet-query.ts';
import { peakRssMiB, resetPeak, rssMiB } from './process-memory.ts';
import { openSheetsBench } from './sheets-bench-helpers.ts';
import { threadCpu, threadCpuSince } from './thread-cpu.ts';

/** Every thread's CPU from the process's start: `threadsMs` in the output is since then. */
const processStart = threadCpu();

const [mode, file] = process.argv.slice(2) as [string, string];
const threads = process.env.BRAINCELLS_DUCKDB_THREADS;
/** CPU time (user + system, every thread) since `before`, in ms: steadier than wall time on a busy machine. */
const cpuSince = (before: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
};

if (mode === 'duckdb') {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-bench-duck-'));
  const instance = await DuckDBInstance.create(
    path.join(dir, 'peer.duckdb'),
    threads ? { threads } : {},
  );
  const connection = await instance.connect();
  const startupPeakRssMiB = peakRssMiB();
  const peakReset = resetPeak();
  const before = rssMiB();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const threadsBefore = threadCpu();
  await connection.run(`create table peer as select * from read_csv('${file}')`);
  const ms = performance.now() - started;
  const cpuMs = cpuSince(cpuBefore);
  const importThreadsMs = threadCpuSince(threadsBefore);
  const peak = peakRssMiB();
  const rows = (
    await connection.runAndReadAll('select count(*) as n from peer')
  ).getRowObjectsJS()[0]!.n;
  // Before closing: DuckDB's threads end with its instance, and /proc forgets them.
  const threadsMs = threadCpuSince(processStart);
  connection.closeSync();
  instance.closeSync();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(
    `${JSON.stringify({ ms, cpuMs, rows: Number(rows), peakRssMiB: peak, baseRssMiB: before, startupPeakRssMiB, peakReset, importThreadsMs, threadsMs })}\n`,
  );
} else {
  const bench = await openSheetsBench(threads ? { BRAINCELLS_DUCKDB_THREADS: threads } : {});
  const startupPeakRssMiB = peakRssMiB();
  const peakReset = resetPeak();
  const before = rssMiB();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const threadsBefore = threadCpu();
  const row = await bench.module.imports.createFromPath(bench.actor, bench.projectId, {
    path: file,
  });
  await bench.module.imports.startImport(bench.actor, bench.projectId, row.id, undefined, false);
  const result = await bench.module.imports.executeImport(row.id);
  const ms = performance.now() - started;
  const cpuMs = cpuSince(cpuBefore);
  const importThreadsMs = threadCpuSince(threadsBefore);
  const peak = peakRssMiB();
  // The checkpoint the import asked for runs in the background, as a later write's would
  // have: timed, and its memory reported apart from the import's.
  await bench.platform.duckdb.checkpointsSettled();
  const settledMs = performance.now() - started;
  const checkpointPeakRssMiB = peakRssMiB();
  if (result?.status !== 'succeeded')
    throw new Error(`import ${result?.status}: ${JSON.stringify(result?.error)}`);
  const [stored] = await bench.platform.duckdb.query<{ n: bigint }>(
    `select count(*) as n from ${datasetTable(result.datasetId!)}`,
  );
  const threadsMs = threadCpuSince(processStart);
  await bench.close();
  process.stdout.write(
    `${JSON.stringify({ ms, cpuMs, settledMs, checkpointPeakRssMiB, rows: result.rowsImported, storedRows: Number(stored?.n ?? 0), peakRssMiB: peak, baseRssMiB: before, startupPeakRssMiB, peakReset, importThreadsMs, threadsMs })}\n`,
  );
}
