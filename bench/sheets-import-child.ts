// Child process of sheets-import.bench.ts, so peak RSS (VmHWM) belongs to one import alone.
//   node bench/sheets-import-child.ts braincells FILE   → our import (service + job code path)
//   node bench/sheets-import-child.ts duckdb FILE       → DuckDB's own CREATE TABLE AS read_csv
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { openSheetsBench } from './sheets-bench-helpers.ts';

const [mode, file] = process.argv.slice(2) as [string, string];
const peakRssMiB = () =>
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;

if (mode === 'duckdb') {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-bench-duck-'));
  const instance = await DuckDBInstance.create(path.join(dir, 'peer.duckdb'));
  const connection = await instance.connect();
  const before = peakRssMiB();
  const started = performance.now();
  await connection.run(`create table peer as select * from read_csv('${file}')`);
  const ms = performance.now() - started;
  const rows = (
    await connection.runAndReadAll('select count(*) as n from peer')
  ).getRowObjectsJS()[0]!.n;
  connection.closeSync();
  instance.closeSync();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(
    `${JSON.stringify({ ms, rows: Number(rows), peakRssMiB: peakRssMiB(), baseRssMiB: before })}\n`,
  );
} else {
  const bench = await openSheetsBench();
  const before = peakRssMiB();
  const started = performance.now();
  const row = await bench.module.imports.createFromPath(bench.actor, bench.projectId, {
    path: file,
  });
  await bench.module.imports.startImport(bench.actor, bench.projectId, row.id, undefined, false);
  const result = await bench.module.imports.executeImport(row.id);
  const ms = performance.now() - started;
  if (result?.status !== 'succeeded')
    throw new Error(`import ${result?.status}: ${JSON.stringify(result?.error)}`);
  await bench.close();
  process.stdout.write(
    `${JSON.stringify({ ms, rows: result.rowsImported, peakRssMiB: peakRssMiB(), baseRssMiB: before })}\n`,
  );
}
