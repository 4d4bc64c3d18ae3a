// Foundation figures: cold and warm start to /readyz 200, idle RSS, and /healthz requests/s
// against a bare Fastify app measured in the same run; what an idle server costs each second
// (CPU time; on PostgreSQL, with DATABASE_URL set, also its database's transactions) and a job's
// trip from send to start.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { childEnv, ROOT, type Spawned, spawnCli, spawnNode } from '../test/spawn-server.ts';
import { type BenchRow, round } from './bench-types.ts';
import { measureIdleServer } from './idle-server.ts';
import { measureJobLatency } from './job-latency.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function untilReady(url: string, started: number): Promise<number> {
  for (;;) {
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.status === 200) return performance.now() - started;
    } catch {}
    await sleep(5);
  }
}

/** Spawns the server and measures process start → first /readyz 200. */
async function startAndTime(
  dataDir: string,
): Promise<{ server: Spawned; url: string; ms: number }> {
  const started = performance.now();
  // The per-IP limit is raised: every benchmark request comes from one address, and the
  // figure is the request path's cost, not how fast a 429 is answered.
  const server = spawnCli(
    ['serve'],
    childEnv({ BRAINCELLS_DATA_DIR: dataDir, PORT: '0', BRAINCELLS_RATE_LIMIT_PER_IP: '1000000' }),
  );
  const url = await server.ready(60_000).catch(async () => {
    throw new Error(`server did not start: ${server.stderr()}`);
  });
  return { server, url, ms: await untilReady(url, started) };
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return round(kb / 1024, 1);
}

async function stop(server: Spawned) {
  server.child.kill('SIGTERM');
  await server.exited;
}

async function requestsPerSecond(url: string): Promise<number> {
  const result = await autocannon({
    url: `${url}/healthz`,
    connections: 32,
    pipelining: 1,
    duration: 5,
  });
  if (result.non2xx > 0) throw new Error(`${result.non2xx} responses were not 2xx`);
  return round(result.requests.average, 0);
}

export default async function platformBench(): Promise<BenchRow[]> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bc-bench-'));
  try {
    const cold = await startAndTime(dataDir);
    await stop(cold.server);
    const warm = await startAndTime(dataDir);
    await sleep(2_000);
    const idleRss = rssMiB(warm.server.child.pid!);

    const bare = spawnNode([path.join(ROOT, 'bench/fixtures/bare-fastify.ts')], childEnv());
    const bareUrl = await bare.ready();
    // Warm both up, then measure each alone.
    await autocannon({ url: `${warm.url}/healthz`, connections: 8, amount: 2_000 });
    await autocannon({ url: `${bareUrl}/healthz`, connections: 8, amount: 2_000 });
    const ours = await requestsPerSecond(warm.url);
    const peer = await requestsPerSecond(bareUrl);
    await stop(bare);
    await stop(warm.server);

    const idle = [await measureIdleServer({ backend: 'pglite', seconds: 30 })];
    if (process.env.DATABASE_URL)
      idle.push(await measureIdleServer({ backend: 'postgres', seconds: 60 }));
    const trips = [await measureJobLatency('pglite', 20)];
    if (process.env.DATABASE_URL) trips.push(await measureJobLatency('postgres', 20));

    return [
      ...idle.flatMap((figures) => [
        {
          name: `idle server CPU time per second (${figures.backend}, ${figures.seconds} s)`,
          value: figures.cpuMsPerSecond,
          unit: 'ms/s',
        },
        ...(figures.transactionsPerMinute === undefined
          ? []
          : [
              {
                name: 'idle server PostgreSQL transactions per minute',
                value: figures.transactionsPerMinute,
                unit: '/min',
              },
            ]),
      ]),
      ...trips.flatMap((figures) => [
        {
          name: `job send to start p50, queue idle (${figures.backend})`,
          value: figures.idleMs.p50,
          unit: 'ms',
        },
        ...(figures.crossServerMs
          ? [
              {
                name: 'job send to start p50, sent by another server (postgres)',
                value: figures.crossServerMs.p50,
                unit: 'ms',
              },
            ]
          : []),
      ]),
      {
        name: 'cold start to /readyz 200 (new data dir: initdb + migrations)',
        value: round(cold.ms, 0),
        unit: 'ms',
      },
      { name: 'warm start to /readyz 200', value: round(warm.ms, 0), unit: 'ms' },
      { name: 'idle RSS after warm start', value: idleRss, unit: 'MiB' },
      {
        name: '/healthz throughput (32 connections, 5 s)',
        value: ours,
        unit: 'req/s',
        against: { label: 'bare Fastify', value: peer },
        ratio: round(ours / peer),
      },
    ];
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
