// Probe (not a bench row): CPU per changed file of a live cycle. The live bench's growing
// transcripts, then ROUNDS cycles (one call appended to every file each), each measured with
// process.cpuUsage() — which counts DuckDB's threads too — and split into the walk + read +
// parse (everything before the store's write) and each statement of the write. Prints CPU per
// changed file per round, the median, and the statements' shares.
// ./scripts/with-node.sh node bench/monitor-live-cpu.ts   (BENCH_MONITOR_LIVE_FILES, _KB, _ROUNDS)
// A/B in one run: BENCH_MONITOR_LIVE_BASE=<another checkout's src folder> (e.g. `git archive`
// of main, with node_modules linked) imports that checkout's importTree and store too; each
// round then runs one cycle of each (their order alternating) over the same grown files, into
// two projects of the same database, and prints the paired ratio per round.
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { importTree } from '../src/monitor/monitor-import.ts';
import { createMonitorStore, type MonitorStore } from '../src/monitor/monitor-store.ts';
import { ensureMonitorTables } from '../src/monitor/monitor-tables.ts';
import { type DuckDb, openDuckDb } from '../src/platform/duckdb/duckdb.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { liveCallLines, writeLiveTree } from './monitor-transcripts.ts';

const FILES = Number(process.env.BENCH_MONITOR_LIVE_FILES ?? 1_000);
const KB = Number(process.env.BENCH_MONITOR_LIVE_KB ?? 100);
const ROUNDS = Number(process.env.BENCH_MONITOR_LIVE_ROUNDS ?? 8);

const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

let measuring = false;

function label(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim().slice(0, 70);
}

/** The instance, with every statement of a transaction timed (CPU, the process's). */
function timed(duckdb: DuckDb, statements: Map<string, number>): DuckDb {
  const wrap = (connection: DuckDBConnection): DuckDBConnection =>
    new Proxy(connection, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (typeof value !== 'function') return value;
        if (key !== 'run' && key !== 'runAndReadAll' && key !== 'createAppender')
          return value.bind(target);
        return async (...args: unknown[]) => {
          const started = process.cpuUsage();
          const result = await value.apply(target, args);
          const name = key === 'createAppender' ? `append ${args[0]}` : label(String(args[0]));
          if (key === 'createAppender') {
            // Time the appender until it is closed.
            const close = result.closeSync.bind(result);
            result.closeSync = () => {
              close();
              if (measuring) statements.set(name, (statements.get(name) ?? 0) + cpuMs(started));
            };
          } else if (measuring) {
            statements.set(name, (statements.get(name) ?? 0) + cpuMs(started));
          }
          return result;
        };
      },
    });
  return {
    ...duckdb,
    transaction: (work) => duckdb.transaction((connection) => work(wrap(connection))),
  } as DuckDb;
}

interface Variant {
  name: string;
  importTree: typeof importTree;
  createMonitorStore: typeof createMonitorStore;
  projectId: string;
  store?: MonitorStore;
  perFile: number[];
  cpu: number;
  writeCpu: number;
  statements: Map<string, number>;
}

const variants: Variant[] = [
  { name: 'this', importTree, createMonitorStore },
  ...(process.env.BENCH_MONITOR_LIVE_BASE
    ? [
        {
          name: 'base',
          importTree: (
            await import(
              path.resolve(process.env.BENCH_MONITOR_LIVE_BASE, 'monitor/monitor-import.ts')
            )
          ).importTree,
          createMonitorStore: (
            await import(
              path.resolve(process.env.BENCH_MONITOR_LIVE_BASE, 'monitor/monitor-store.ts')
            )
          ).createMonitorStore,
        },
      ]
    : []),
].map((variant) => ({
  ...variant,
  projectId: uuidv7(),
  perFile: [],
  cpu: 0,
  writeCpu: 0,
  statements: new Map(),
}));

const median = (values: number[]) => values.slice().sort((a, b) => a - b)[values.length >> 1]!;
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-live-cpu-'));
const duckdb = await openDuckDb({ path: path.join(dir, 'bench.duckdb'), connections: 4 });
try {
  await ensureMonitorTables(duckdb);
  for (const variant of variants) {
    const store = variant.createMonitorStore(timed(duckdb, variant.statements));
    variant.store = {
      ...store,
      async replaceFiles(projectId, writes) {
        const started = process.cpuUsage();
        await store.replaceFiles(projectId, writes);
        if (measuring) variant.writeCpu += cpuMs(started);
      },
    };
  }
  const root = path.join(dir, 'projects');
  const files = writeLiveTree(root, FILES, KB);
  const cycle = (variant: Variant) =>
    variant.importTree({
      store: variant.store!,
      projectId: variant.projectId,
      root,
      source: 'claude-code',
    });
  for (const variant of variants) await cycle(variant);
  await duckdb.checkpointsSettled();
  const session = process.env.BENCH_PROFILE_DIR ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const { file, sessionId } of files) appendFileSync(file, liveCallLines(sessionId));
    measuring = r > 0; // the first round warms up
    const order = r % 2 === 0 ? variants : variants.slice().reverse();
    const line: string[] = [];
    for (const variant of order) {
      const started = process.cpuUsage();
      const result = await cycle(variant);
      const used = cpuMs(started);
      if (result.files !== FILES) throw new Error(`cycle read ${result.files} files`);
      if (measuring) {
        variant.cpu += used;
        variant.perFile.push((used * 1000) / FILES);
      }
      line.push(
        `${variant.name} ${used.toFixed(0)} ms CPU (${((used * 1000) / FILES).toFixed(1)} µs/file)`,
      );
    }
    if (measuring && variants.length === 2)
      ratios.push(variants[0]!.perFile.at(-1)! / variants[1]!.perFile.at(-1)!);
    console.log(
      `round ${r}: ${line.join(', ')}${ratios.length && measuring ? `, this ÷ base ${ratios.at(-1)!.toFixed(3)}` : ''}; load ${load()}`,
    );
  }
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(process.env.BENCH_PROFILE_DIR!, { recursive: true });
    writeFileSync(
      path.join(process.env.BENCH_PROFILE_DIR!, 'monitor-live.cpuprofile'),
      JSON.stringify(profile),
    );
  }
  for (const variant of variants) {
    console.log(
      `${variant.name}: median ${median(variant.perFile).toFixed(1)} µs CPU per changed file; write (replaceFiles) ${((variant.writeCpu / variant.cpu) * 100).toFixed(0)} % of it`,
    );
    for (const [name, ms] of [...variant.statements].sort((a, b) => b[1] - a[1]))
      console.log(`  ${((ms / variant.cpu) * 100).toFixed(1).padStart(5)} %  ${name}`);
  }
  if (ratios.length > 0)
    console.log(
      `this ÷ base per round (paired): median ${median(ratios).toFixed(3)}, ${ratios.map((v) => v.toFixed(3)).join(' ')}; load ${load()}`,
    );
} finally {
  await duckdb.close();
  rmSync(dir, { recursive: true, force: true });
}
