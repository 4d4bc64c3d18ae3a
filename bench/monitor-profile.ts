// Where a Monitor import's CPU goes, independent of the machine's load: CPU time
// (process.cpuUsage) and V8's profiler around importTree of generated logs, summarised by
// package / our file (bench-profile.ts). Not a benchmark row: run it to compare two builds.
//   ./scripts/with-node.sh node bench/monitor-profile.ts claude 100   (MB of JSONL)
//   ./scripts/with-node.sh node bench/monitor-profile.ts opencode 20000   (files)
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
import { writeClaudeTree, writeOpenCodeTree } from './monitor.bench.ts';

const kind = process.argv[2] === 'opencode' ? 'opencode' : 'claude';
const size = Number(process.argv[3] ?? (kind === 'claude' ? 100 : 20_000));
const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-profile-'));
try {
  const root = kind === 'claude' ? path.join(dir, 'claude', 'projects') : path.join(dir, 'storage');
  if (kind === 'claude') writeClaudeTree(path.join(dir, 'claude'), size);
  else writeOpenCodeTree(root, size);
  const duckdb = await openDuckDb({ path: path.join(dir, 'profile.duckdb'), connections: 4 });
  try {
    await ensureMonitorTables(duckdb);
    const store = createMonitorStore(duckdb);
    const projectId = uuidv7();
    const cpu = process.cpuUsage();
    const started = performance.now();
    const run = async () => {
      const result = await importTree({
        store,
        projectId,
        root,
        source: kind === 'claude' ? 'claude-code' : 'opencode',
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
  } finally {
    await duckdb.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
