// Time from `send` to the start of the job's handler, on an otherwise idle queue: a job sent on
// the server that runs it (all slots free, and with 3 of 4 slots busy), and on PostgreSQL a job
// sent by another server (one that runs no workers, like an api server). Each job waits for the
// previous one to start, so every figure is one job's trip.
//
// `node bench/job-latency.ts [pglite|postgres] [rounds]` prints one JSON line (postgres needs
// DATABASE_URL pointing at a server where it may create a database).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Database, openDatabase } from '../src/platform/db/database.ts';
import { createJobQueue } from '../src/platform/jobs/job-queue.ts';
import { createLogger } from '../src/platform/logger.ts';
import { withDatabase } from './bench-database.ts';
import { percentile, round } from './bench-types.ts';

// Quiet: dropping the bench's database ends pg-boss's pool connections, which it reports.
const logger = createLogger({ level: 'fatal', format: 'json' });

interface Trip {
  p50: number;
  p95: number;
  max: number;
}

function summary(samples: number[]): Trip {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: round(percentile(sorted, 50), 1),
    p95: round(percentile(sorted, 95), 1),
    max: round(sorted.at(-1)!, 1),
  };
}

/** The trip of `rounds` jobs; `busy` slots of the queue's 4 are held by jobs that wait. */
async function localTrips(database: Database, rounds: number, busy: number): Promise<Trip> {
  const queue = createJobQueue({ database, logger, work: true });
  let started: ((at: number) => void) | undefined;
  const release: (() => void)[] = [];
  queue.register<{ hold: boolean }>({
    name: `bench.trip-${busy}`,
    concurrency: 4,
    handler: async (job) => {
      started?.(performance.now());
      if (job.data.hold) await new Promise<void>((resolve) => release.push(resolve));
    },
  });
  await queue.start();
  try {
    const trip = async (hold: boolean) => {
      const start = new Promise<number>((resolve) => {
        started = resolve;
      });
      const sent = performance.now();
      await queue.send(`bench.trip-${busy}`, { hold });
      return (await start) - sent;
    };
    for (let index = 0; index < busy; index++) await trip(true);
    const samples: number[] = [];
    for (let index = 0; index < rounds; index++) samples.push(await trip(false));
    return summary(samples);
  } finally {
    for (const resolve of release) resolve();
    await queue.stop();
  }
}

async function crossServerTrips(connectionString: string, rounds: number): Promise<Trip> {
  const senderDb = await openDatabase({ kind: 'postgres', connectionString, poolSize: 2 });
  const workerDb = await openDatabase({ kind: 'postgres', connectionString, poolSize: 2 });
  const sender = createJobQueue({ database: senderDb, logger, work: false });
  const worker = createJobQueue({ database: workerDb, logger, work: true });
  let started: ((at: number) => void) | undefined;
  for (const queue of [sender, worker])
    queue.register({
      name: 'bench.cross',
      concurrency: 4,
      handler: async () => started?.(performance.now()),
    });
  await worker.start();
  await sender.start();
  try {
    const samples: number[] = [];
    for (let index = 0; index < rounds; index++) {
      const start = new Promise<number>((resolve) => {
        started = resolve;
      });
      const sent = performance.now();
      await sender.send('bench.cross', {});
      samples.push((await start) - sent);
    }
    return summary(samples);
  } finally {
    await sender.stop();
    await worker.stop();
    await senderDb.close();
    await workerDb.close();
  }
}

export async function measureJobLatency(backend: 'pglite' | 'postgres', rounds: number) {
  const trips = async (database: Database, connectionString?: string) => ({
    backend,
    rounds,
    idleMs: await localTrips(database, rounds, 0),
    threeOfFourBusyMs: await localTrips(database, rounds, 3),
    ...(connectionString
      ? { crossServerMs: await crossServerTrips(connectionString, rounds) }
      : {}),
  });
  if (backend === 'postgres') {
    const base = process.env.DATABASE_URL;
    if (!base) throw new Error('DATABASE_URL is needed for the postgres backend');
    return withDatabase(base, async (connectionString) => {
      const database = await openDatabase({ kind: 'postgres', connectionString });
      try {
        return await trips(database, connectionString);
      } finally {
        await database.close();
      }
    });
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bc-trip-'));
  const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'db') });
  try {
    return await trips(database);
  } finally {
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const backend = process.argv[2] === 'postgres' ? 'postgres' : 'pglite';
  const rounds = Number(process.argv[3] ?? 30);
  const figures = await measureJobLatency(backend, rounds);
  console.log(JSON.stringify({ ...figures, load: os.loadavg().map((value) => round(value, 1)) }));
}
