// Workflows' engine against DBOS Transact (issue #17, "Figures to report"):
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- workflow-engine
//
// The same 3-step workflow of no-op steps, WORKFLOW_ENGINE_BENCH_N (1,000) workflows, 16 at a
// time, on the same PostgreSQL server, each engine on its own fresh database, both open at once
// and run in alternating rounds (WORKFLOW_ENGINE_BENCH_ROUNDS, 10) so load drift hits both:
// - ours: the durable-run engine (src/platform/jobs/durable-run.ts) that workflow runs use —
//   a run row, a lease, a checkpoint per step — started reserved for this process and executed
//   in it (`runs.start({ reserve: true })`, then `runs.execute`; no job queue), as DBOS's
//   `startWorkflow` creates a workflow its own process executes;
// - DBOS Transact (`@dbos-inc/dbos-sdk`, a devDependency): `DBOS.registerWorkflow` with three
//   `DBOS.runStep` no-ops, each workflow started and awaited in this process.
// Overhead per step = wall time × 16 / (N × 3). Goal: ours ≤ DBOS's (ratio ≤ 1).
// Statements per step: every query either engine sends to PostgreSQL during the measured
// workflows (both use `pg`; its `Client.prototype.query` is counted) ÷ (N × 3) — a figure the
// machine's load does not change.
// Commits per step that wait for the WAL flush (see `countFlush`): on a quiet machine, what the
// wall time mostly is (an fdatasync each, a few ms on this machine's disk).
// CPU per step: this process's CPU time plus that of the PostgreSQL backends serving the
// engine's database (read from /proc: the server must be on this machine; otherwise only the
// process's is printed) during the measured workflows ÷ (N × 3). On a shared machine the wall
// time above is mostly waiting for a core; the CPU each engine spends is what it costs.
//
// Recovery: a child process (workflow-recovery-child.ts) starts WORKFLOW_RECOVERY_BENCH_N
// (100) runs and parks each in step 2; it is killed with SIGKILL; a new engine on the same
// database then recovers them (every running run is an orphan, as on an embedded restart)
// and executes them to the end: the time from opening the database to the last run
// completed, with step 1 never run again (checked). Goal: within one lease period (60 s).
// WORKFLOW_RECOVERY_BENCH_N=0 leaves it out. Skipped (a row saying so) without DATABASE_URL.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';
import { type Config, loadConfig } from '../src/platform/config.ts';
import { createDurableRuns } from '../src/platform/jobs/durable-run.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import { urlFor, withDatabase } from './bench-database.ts';
import { type BenchRow, round } from './bench-types.ts';

const N = Number(process.env.WORKFLOW_ENGINE_BENCH_N ?? 1_000);
const CONCURRENCY = 16;
const STEPS = 3;
const RECOVER_N = Number(process.env.WORKFLOW_RECOVERY_BENCH_N ?? 100);
/** Rounds each engine's workflows are split into, alternating with the other's. */
const ROUNDS = Number(process.env.WORKFLOW_ENGINE_BENCH_ROUNDS ?? 10);

interface Measured {
  /** Wall time in ms. */
  elapsedMs: number;
  /** Queries sent to PostgreSQL meanwhile. */
  statements: number;
  /** Commits among them that waited for the WAL flush. */
  flushes: number;
  /** CPU ms of this process meanwhile. */
  processCpuMs: number;
  /** CPU ms of the PostgreSQL backends serving the engine's database (undefined: not local). */
  serverCpuMs: number | undefined;
}

const TICK_MS = 10; // /proc/<pid>/stat counts CPU in clock ticks (USER_HZ, 100 on Linux)

/**
 * CPU ms used so far by each PostgreSQL backend connected to `database`, read from /proc
 * (undefined when a backend's process is not on this machine).
 */
async function backendCpu(
  base: string,
  database: string,
): Promise<Map<number, number> | undefined> {
  const admin = new pg.Client({ connectionString: urlFor(base, 'postgres') });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = $1',
      [database],
    );
    const cpu = new Map<number, number>();
    for (const { pid } of rows) {
      try {
        // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpu.set(pid, (Number(fields[11]) + Number(fields[12])) * TICK_MS);
      } catch {
        return undefined;
      }
    }
    return cpu;
  } finally {
    await admin.end();
  }
}

/** Queries sent through `pg` while `countingStatements` runs (both engines use it). */
let statements = 0;
/** WORKFLOW_ENGINE_BENCH_STATEMENTS=1: the statements' first words, counted, printed per engine. */
const heads = process.env.WORKFLOW_ENGINE_BENCH_STATEMENTS ? new Map<string, number>() : undefined;
const printHeads = (engine: string) => {
  if (!heads) return;
  const lines = [...heads].sort((a, b) => b[1] - a[1]).map(([head, n]) => `  ${n}  ${head}`);
  process.stderr.write(
    `workflow-engine: ${engine}'s statements (warm-up included)\n${lines.join('\n')}\n`,
  );
  heads.clear();
};
/**
 * Commits that wait for PostgreSQL's WAL flush (fsync), counted from the statements: a COMMIT,
 * or a write sent outside a transaction block, unless it turns `synchronous_commit` off for
 * itself. (A transaction block is assumed to write: both engines open one only to write.)
 * Each one is a disk flush the workflow waits on, which on a quiet machine is most of a step's
 * time; the machine's load does not change the count.
 */
let flushes = 0;
const inTransaction = new WeakSet<object>();
function countFlush(client: object, text: string) {
  const statement = text.trimStart().slice(0, 12).toLowerCase();
  if (statement.startsWith('begin')) inTransaction.add(client);
  else if (statement.startsWith('commit')) {
    inTransaction.delete(client);
    flushes++;
  } else if (statement.startsWith('rollback')) inTransaction.delete(client);
  else if (
    !inTransaction.has(client) &&
    /\b(insert|update|delete)\b/i.test(text) &&
    !/set_config\('synchronous_commit', 'off'/.test(text)
  )
    flushes++;
}

async function countingStatements<T>(work: () => Promise<T>): Promise<T> {
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function counted(this: pg.Client, ...args: unknown[]) {
    statements++;
    const first = args[0] as string | { text?: string } | undefined;
    const text = typeof first === 'string' ? first : (first?.text ?? '?');
    countFlush(this, text);
    if (heads) {
      const head = text.trim().replace(/\s+/g, ' ').slice(0, 60);
      heads.set(head, (heads.get(head) ?? 0) + 1);
    }
    return (query as (...args: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    return await work();
  } finally {
    pg.Client.prototype.query = query;
  }
}

/**
 * Runs `count` workflows, `CONCURRENCY` at a time, on the database `databaseUrl` names;
 * answers the wall time, the queries and the CPU spent.
 */
async function pool(
  base: string,
  databaseUrl: string,
  count: number,
  one: (index: number) => Promise<void>,
): Promise<Measured> {
  const database = new URL(databaseUrl).pathname.slice(1);
  const serverBefore = await backendCpu(base, database);
  let next = 0;
  const before = statements;
  const flushesBefore = flushes;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await one(next++);
    }),
  );
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const sent = statements - before;
  const serverAfter = await backendCpu(base, database);
  let serverCpuMs: number | undefined;
  if (serverBefore && serverAfter) {
    serverCpuMs = 0;
    // A backend opened meanwhile counts whole.
    for (const [pid, ms] of serverAfter) serverCpuMs += ms - (serverBefore.get(pid) ?? 0);
  }
  return {
    elapsedMs,
    statements: sent,
    flushes: flushes - flushesBefore,
    processCpuMs: (cpu.user + cpu.system) / 1000,
    serverCpuMs,
  };
}

/** One workflow, started and awaited; and the database the engine uses. */
type Engine = { one: () => Promise<void>; databaseUrl: string };

async function ours<T>(base: string, use: (engine: Engine) => Promise<T>): Promise<T> {
  return withDatabase(base, async (databaseUrl) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-bench-engine-'));
    const config: Config = {
      ...loadConfig({ BRAINCELLS_DATA_DIR: dir }, {}),
      databaseUrl,
      jobsEnabled: false,
      logLevel: 'silent',
    };
    const platform = await openPlatform(config, createLogger({ level: 'silent', format: 'json' }));
    try {
      // The engine without a job queue: runs are executed only by `execute`, here, as DBOS's
      // are below (no queue worker competing for them). Runs started here are reserved for
      // this process (created leased, as DBOS's `startWorkflow` creates a workflow it executes
      // itself).
      const runs = createDurableRuns({
        db: platform.database.db,
        logger: platform.logger,
        executesRuns: true,
      });
      runs.define({
        kind: 'bench.noop3',
        concurrency: CONCURRENCY,
        async execute(context) {
          for (let step = 1; step <= STEPS; step++)
            await context.step(`s${step}`, async () => null);
          return null;
        },
      });
      const one = async () => {
        const run = await runs.start({ kind: 'bench.noop3', input: {}, reserve: true });
        const outcome = await runs.execute(run.id);
        if (outcome !== 'completed') throw new Error(`run ${run.id}: ${outcome}`);
      };
      return await use({ one, databaseUrl });
    } finally {
      await platform.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

async function dbos<T>(base: string, use: (engine: Engine) => Promise<T>): Promise<T> {
  return withDatabase(base, async (systemDatabaseUrl) => {
    DBOS.setConfig({ name: 'braincells-bench', systemDatabaseUrl, applicationVersion: '0.1.0' });
    const noop = async () => null;
    const workflow = DBOS.registerWorkflow(
      async () => {
        for (let step = 1; step <= STEPS; step++) await DBOS.runStep(noop, { name: `s${step}` });
        return null;
      },
      { name: 'noop3' },
    );
    await DBOS.launch();
    try {
      const one = async () => {
        const handle = await DBOS.startWorkflow(workflow)();
        await handle.getResult();
      };
      return await use({ one, databaseUrl: systemDatabaseUrl });
    } finally {
      await DBOS.shutdown();
    }
  });
}

const add = (a: Measured, b: Measured): Measured => ({
  elapsedMs: a.elapsedMs + b.elapsedMs,
  statements: a.statements + b.statements,
  flushes: a.flushes + b.flushes,
  processCpuMs: a.processCpuMs + b.processCpuMs,
  serverCpuMs:
    a.serverCpuMs === undefined || b.serverCpuMs === undefined
      ? undefined
      : a.serverCpuMs + b.serverCpuMs,
});
const none: Measured = { elapsedMs: 0, statements: 0, flushes: 0, processCpuMs: 0, serverCpuMs: 0 };

/**
 * Both engines open side by side; N workflows each, in ROUNDS alternating rounds (ours, then
 * DBOS's), so the machine's load drifting during the run weighs on both alike.
 */
async function alternating(base: string): Promise<{ ours: Measured; dbos: Measured }> {
  return ours(base, (our) =>
    dbos(base, async (their) => {
      const run = (engine: Engine, count: number) =>
        pool(base, engine.databaseUrl, count, engine.one);
      await run(our, Math.min(50, N)); // warm-up
      await run(their, Math.min(50, N));
      const totals = { ours: none, dbos: none };
      for (let round = 0; round < ROUNDS; round++) {
        const count = Math.floor(N / ROUNDS) + (round < N % ROUNDS ? 1 : 0);
        totals.ours = add(totals.ours, await run(our, count));
        totals.dbos = add(totals.dbos, await run(their, count));
      }
      return totals;
    }),
  );
}

async function recovery(base: string): Promise<BenchRow> {
  return withDatabase(base, async (databaseUrl) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-bench-recovery-'));
    try {
      // Migrations first, so the child's start-up is not what is measured later.
      const config: Config = {
        ...loadConfig({ BRAINCELLS_DATA_DIR: dir }, {}),
        databaseUrl,
        jobsEnabled: false,
        logLevel: 'silent',
      };
      const logger = createLogger({ level: 'silent', format: 'json' });
      await (await openPlatform(config, logger)).close();
      const child = spawn(
        process.execPath,
        [
          path.join(import.meta.dirname, 'workflow-recovery-child.ts'),
          databaseUrl,
          dir,
          String(RECOVER_N),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve, reject) => {
        let parked = 0;
        child.stdout!.on('data', (chunk: Buffer) => {
          parked += chunk.toString().split('in-step-2').length - 1;
          if (parked >= RECOVER_N) resolve();
        });
        child.once('exit', (code) => reject(new Error(`recovery child exited ${code}`)));
      });
      child.kill('SIGKILL');
      await exited;

      const started = performance.now();
      const platform = await openPlatform(config, logger);
      try {
        let firstSteps = 0;
        const runs = createDurableRuns({ db: platform.database.db, logger: platform.logger });
        runs.define({
          kind: 'bench.recover3',
          concurrency: RECOVER_N,
          async execute(context) {
            await context.step('s1', async () => {
              firstSteps++;
              return null;
            });
            await context.step('s2', async () => null);
            await context.step('s3', async () => null);
            return null;
          },
        });
        await runs.recover({ allRunningAreOrphans: true });
        const waiting = await platform.database.db
          .selectFrom('durable_run')
          .select('id')
          .where('kind', '=', 'bench.recover3')
          .where('status', '!=', 'completed')
          .execute();
        if (waiting.length !== RECOVER_N)
          throw new Error(`${waiting.length} of ${RECOVER_N} runs to recover`);
        const outcomes = await Promise.all(waiting.map((run) => runs.execute(run.id)));
        const elapsedMs = performance.now() - started;
        const completed = outcomes.filter((outcome) => outcome === 'completed').length;
        if (completed !== RECOVER_N || firstSteps !== 0)
          throw new Error(`${completed} completed, step 1 run again ${firstSteps} times`);
        return {
          name: `recovery after kill -9 of ${RECOVER_N} runs in step 2 of 3 (PostgreSQL)`,
          value: round(elapsedMs),
          unit: 'ms',
          against: { label: 'lease period ms', value: 60_000 },
          ratio: round(elapsedMs / 60_000, 3),
          goal: 'ratio < 1',
          pass: elapsedMs < 60_000,
        };
      } finally {
        await platform.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

export default async function workflowEngineBench(): Promise<BenchRow[]> {
  const base = process.env.DATABASE_URL;
  if (!base || !/^postgres(ql)?:\/\//.test(base))
    return [{ name: 'engine overhead vs DBOS: skipped (no DATABASE_URL)', value: 0, unit: '' }];
  const perStep = (elapsedMs: number) => round((elapsedMs * CONCURRENCY) / (N * STEPS), 3);
  const statementsPerStep = (measured: Measured) => round(measured.statements / (N * STEPS), 2);
  const measured = await countingStatements(() => alternating(base));
  printHeads('both engines');
  const ourRun = measured.ours;
  const dbosRun = measured.dbos;
  const ourMs = perStep(ourRun.elapsedMs);
  const dbosMs = perStep(dbosRun.elapsedMs);
  const ratio = round(ourMs / dbosMs, 3);
  const ourStatements = statementsPerStep(ourRun);
  const dbosStatements = statementsPerStep(dbosRun);
  const cpuPerStep = (measured: Measured) =>
    round((measured.processCpuMs + (measured.serverCpuMs ?? 0)) / (N * STEPS), 4);
  const ourCpu = cpuPerStep(ourRun);
  const dbosCpu = cpuPerStep(dbosRun);
  const withServer = ourRun.serverCpuMs !== undefined && dbosRun.serverCpuMs !== undefined;
  const split = (measured: Measured) =>
    `process ${round(measured.processCpuMs / (N * STEPS), 4)}, PostgreSQL ${measured.serverCpuMs === undefined ? '?' : round(measured.serverCpuMs / (N * STEPS), 4)}`;
  return [
    ...(RECOVER_N > 0 ? [await recovery(base)] : []),
    {
      name: `engine overhead per step, ${N} × 3 no-op steps at concurrency ${CONCURRENCY} (PostgreSQL)`,
      value: ourMs,
      unit: 'ms/step',
      against: { label: 'DBOS Transact ms/step', value: dbosMs },
      ratio,
      goal: 'ratio ≤ 1',
      pass: ratio <= 1,
    },
    {
      name: 'SQL statements per step, the same workflows (start and end included)',
      value: ourStatements,
      unit: 'statements',
      against: { label: 'DBOS Transact statements', value: dbosStatements },
      ratio: round(ourStatements / dbosStatements, 3),
    },
    {
      name: 'commits waiting for the WAL flush per step, the same workflows',
      value: round(ourRun.flushes / (N * STEPS), 2),
      unit: 'commits',
      against: { label: 'DBOS Transact commits', value: round(dbosRun.flushes / (N * STEPS), 2) },
      ratio: round(ourRun.flushes / dbosRun.flushes, 3),
      goal: 'ratio ≤ 1',
      pass: ourRun.flushes <= dbosRun.flushes,
    },
    {
      name: `CPU per step, ${withServer ? 'this process and its PostgreSQL backends' : 'this process only'} (ours: ${split(ourRun)}; DBOS: ${split(dbosRun)})`,
      value: ourCpu,
      unit: 'ms/step',
      against: { label: 'DBOS Transact CPU ms/step', value: dbosCpu },
      ratio: round(ourCpu / dbosCpu, 3),
      goal: 'ratio ≤ 1',
      pass: ourCpu <= dbosCpu,
    },
    {
      name: 'load average (1 min) at the end',
      value: round(os.loadavg()[0] ?? 0, 2),
      unit: 'load',
    },
  ];
}
