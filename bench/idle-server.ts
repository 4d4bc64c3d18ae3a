// What an idle server costs: its CPU time per second (utime + stime from /proc, so the figure
// means something on a loaded machine) and, on PostgreSQL, the transactions its database commits
// per minute (pg_stat_database of a database made for the run, so other users of the PostgreSQL
// server do not count; one autocommit statement is one transaction). Nothing is sent to the
// server while it is measured: what is left is its timers (job polling, maintenance, listeners).
//
// Standalone: `node bench/idle-server.ts [pglite|postgres] [seconds]` prints one JSON line
// (postgres needs DATABASE_URL pointing at a server where it may create a database;
// IDLE_LOG_STATEMENTS=1 also logs every statement of its database to the PostgreSQL log).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { childEnv, spawnCli } from '../test/spawn-server.ts';
import { databaseOf, urlFor, withDatabase } from './bench-database.ts';
import { round } from './bench-types.ts';
import { processCpuMs } from './cluster-cpu.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface IdleFigures {
  backend: 'pglite' | 'postgres';
  seconds: number;
  cpuMsPerSecond: number;
  /** PostgreSQL only: transactions committed per minute on the server's database. */
  transactionsPerMinute?: number;
}

async function committed(client: pg.Client, database: string): Promise<number> {
  // Statistics reach pg_stat_database when a backend flushes them (at most about a second
  // late); the snapshot is cleared so two reads in one session see fresh values.
  await client.query('select pg_stat_clear_snapshot()');
  const { rows } = await client.query<{ total: string }>(
    'select (xact_commit + xact_rollback)::text as total from pg_stat_database where datname = $1',
    [database],
  );
  return Number(rows[0]?.total ?? Number.NaN);
}

export async function measureIdleServer(options: {
  backend: 'pglite' | 'postgres';
  seconds: number;
  /** Time after /readyz before measuring: start-up work (migrations, first polls) is over. */
  settleMs?: number;
  /** PostgreSQL only: log every statement of the server's database (read the server's log). */
  logStatements?: boolean;
}): Promise<IdleFigures> {
  if (options.backend === 'pglite') return measure(options);
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL is needed for the postgres backend');
  return withDatabase(base, async (databaseUrl) => {
    // Reads the statistics through a connection to another database: they are not counted.
    const stats = new pg.Client({ connectionString: urlFor(base, 'postgres') });
    await stats.connect();
    try {
      // Each statement of the server's database into the PostgreSQL log, to see what they are.
      if (options.logStatements)
        await stats.query(`alter database ${databaseOf(databaseUrl)} set log_statement = 'all'`);
      return await measure(options, { url: databaseUrl, stats });
    } finally {
      await stats.end();
    }
  });
}

async function measure(
  options: { backend: 'pglite' | 'postgres'; seconds: number; settleMs?: number },
  postgres?: { url: string; stats: pg.Client },
): Promise<IdleFigures> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bc-idle-'));
  const env: Record<string, string> = { BRAINCELLS_DATA_DIR: dataDir, PORT: '0' };
  if (postgres) env.DATABASE_URL = postgres.url;
  const server = spawnCli(['serve'], childEnv(env));
  try {
    const url = await server.ready(120_000);
    for (;;) {
      const response = await fetch(`${url}/readyz`).catch(() => undefined);
      if (response?.status === 200) break;
      await sleep(50);
    }
    await sleep(options.settleMs ?? 15_000);
    const pid = server.child.pid!;
    const cpu = () => processCpuMs(pid) ?? Number.NaN;
    const transactions = () =>
      postgres ? committed(postgres.stats, databaseOf(postgres.url)) : Promise.resolve(undefined);
    const cpuBefore = cpu();
    const transactionsBefore = await transactions();
    const started = performance.now();
    await sleep(options.seconds * 1000);
    const elapsedSeconds = (performance.now() - started) / 1000;
    const cpuMs = cpu() - cpuBefore;
    const transactionsAfter = await transactions();
    return {
      backend: options.backend,
      seconds: round(elapsedSeconds, 1),
      cpuMsPerSecond: round(cpuMs / elapsedSeconds, 2),
      ...(transactionsAfter === undefined || transactionsBefore === undefined
        ? {}
        : {
            transactionsPerMinute: round(
              ((transactionsAfter - transactionsBefore) * 60) / elapsedSeconds,
              0,
            ),
          }),
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const backend = process.argv[2] === 'postgres' ? 'postgres' : 'pglite';
  const seconds = Number(process.argv[3] ?? 60);
  const logStatements = process.env.IDLE_LOG_STATEMENTS === '1';
  const figures = await measureIdleServer({ backend, seconds, logStatements });
  console.log(JSON.stringify({ ...figures, load: os.loadavg().map((value) => round(value, 1)) }));
}
