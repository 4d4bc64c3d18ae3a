// Probe (not a bench row): the live bench's tail rounds alone, printing each round's latency and
// DuckDB's WAL size after it. MONITOR_PROBE_WAL sets wal_autocheckpoint for the A/B.
import { appendFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { importTree } from '../src/monitor/monitor-import.ts';
import { createMonitorStore } from '../src/monitor/monitor-store.ts';
import { ensureMonitorTables } from '../src/monitor/monitor-tables.ts';
import { openDuckDb } from '../src/platform/duckdb/duckdb.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { liveCallLines as callLines, writeLiveTree } from './monitor-transcripts.ts';

const FILES = Number(process.env.BENCH_MONITOR_LIVE_FILES ?? 2_000);
const KB = Number(process.env.BENCH_MONITOR_LIVE_KB ?? 200);
const ROUNDS = Number(process.env.BENCH_MONITOR_LIVE_ROUNDS ?? 16);
const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-probe-'));
const dbPath = path.join(dir, 'bench.duckdb');
const duckdb = await openDuckDb({ path: dbPath, connections: 4 });
try {
  if (process.env.MONITOR_PROBE_WAL)
    await duckdb.run(`set wal_autocheckpoint = '${process.env.MONITOR_PROBE_WAL}'`);
  await ensureMonitorTables(duckdb);
  const store = createMonitorStore(duckdb);
  const root = path.join(dir, 'projects');
  const files = writeLiveTree(root, FILES, KB);
  const projectId = uuidv7();
  await importTree({ store, projectId, root, source: 'claude-code' });
  await duckdb.checkpointsSettled();
  const wal = () => (existsSync(`${dbPath}.wal`) ? statSync(`${dbPath}.wal`).size : 0);
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let r = 0; r < ROUNDS; r++) {
    for (const { file, sessionId } of files) appendFileSync(file, callLines(sessionId));
    const written = performance.now();
    await importTree({ store, projectId, root, source: 'claude-code' });
    const cycle = performance.now() - written;
    await store.sessionReport({ projectId, since: undefined });
    const latency = performance.now() - written;
    lat.push(latency);
    console.log(
      `round ${r}: cycle ${cycle.toFixed(0)} ms, latency ${latency.toFixed(0)} ms, wal ${(wal() / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  console.log(
    `p50 ${lat[Math.floor(lat.length / 2)]!.toFixed(0)} max ${lat.at(-1)!.toFixed(0)} sum ${lat.reduce((a, b) => a + b, 0).toFixed(0)} cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`,
  );
} finally {
  await duckdb.close();
  rmSync(dir, { recursive: true, force: true });
}
