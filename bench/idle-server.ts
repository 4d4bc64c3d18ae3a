// What an idle server costs: its CPU time per second (utime + stime from /proc, so the figure
// means something on a loaded machine) and, on PostgreSQL, the transactions its database commits
// per minute (pg_stat_database of a database made for the run, so other users of the PostgreSQL
// server do not count; one autocommit statement is one transaction). Nothing is sent to the
// server while it is measured: what is left is its timers (job polling, maintenance, listeners).
//
// Standalone: `node bench/idle-server.ts [pglite|postgres] [seconds]` prints one JSON line
// (postgres needs DATABASE_URL pointing at a server where it may create a database).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { childEnv, spawnCli } from '../test/spawn-server.ts';
import { round } from './bench-types.ts';

/** sysconf(_SC_CLK_TCK): 100 on Linux. */
const TICKS_PER_SECOND = 100;

function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields 14 and 15 of stat(5); after "pid (comm) " they are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

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
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bc-idle-'));
  const env: Record<string, string> = { BRAINCELLS_DATA_DIR: dataDir, PORT: '0' };
  let admin: pg.Client | undefined;
  let database: string | undefined;
  if (options.backend === 'postgres') {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL is needed for the postgres backend');
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    database = `bc_idle_${process.pid}_${Date.now()}`;
    await admin.query(`create database ${database}`);
    // Each statement of the server's database into the PostgreSQL log, to see what they are.
    if (options.logStatements)
      await admin.query(`alter database ${database} set log_statement = 'all'`);
    const target = new URL(url);
    target.pathname = `/${database}`;
    env.DATABASE_URL = target.toString();
  }
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
    const cpuBefore = processCpuMs(pid);
    const transactionsBefore = admin && database ? await committed(admin, database) : undefined;
    const started = performance.now();
    await sleep(options.seconds * 1000);
    const elapsedSeconds = (performance.now() - started) / 1000;
    const cpuMs = processCpuMs(pid) - cpuBefore;
    // The reads go through a connection to another database: they are not counted.
    const transactions =
      admin && database && transactionsBefore !== undefined
        ? (await committed(admin, database)) - transactionsBefore
        : undefined;
    return {
      backend: options.backend,
      seconds: round(elapsedSeconds, 1),
      cpuMsPerSecond: round(cpuMs / elapsedSeconds, 2),
      ...(transactions === undefined
        ? {}
        : { transactionsPerMinute: round((transactions * 60) / elapsedSeconds, 0) }),
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    if (admin && database) {
      await admin.query(`drop database if exists ${database} with (force)`).catch(() => {});
      await admin.end();
    }
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
