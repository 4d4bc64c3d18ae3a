import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DuckDb, openDuckDb } from './duckdb.ts';
import {
  createDuckDbSandbox,
  type DuckDbSandbox,
  SandboxLimitError,
  SandboxQueryError,
} from './duckdb-sandbox.ts';

const MiB = 1024 * 1024;
const limits = { maxRows: 100, maxBytes: MiB };

describe('DuckDB sandbox', () => {
  let dir: string;
  let duckdb: DuckDb;
  let sandbox: DuckDbSandbox;
  let snapshot: string;
  const secret = 'DATA-DIR-SECRET-5d1e';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bc-sandbox-'));
    writeFileSync(path.join(dir, 'secret.csv'), `a\n${secret}\n`);
    duckdb = await openDuckDb({
      path: path.join(dir, 'main.duckdb'),
      connections: 2,
      threads: 2,
      sandbox: { memoryBytes: 300 * MiB, processes: 1 },
    });
    sandbox = duckdb.sandbox;
    await duckdb.run(`create table secret_table as select '${secret}' as a`);
    snapshot = sandbox.tempPath('parquet');
    await duckdb.run(`copy (select range as n from range(1000)) to '${snapshot}' (format parquet)`);
  });
  afterAll(async () => {
    await duckdb.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const views = () => [{ name: 'dataset', path: snapshot }];

  it('reads its own view, and nothing else: no file, no main catalog, no setting change', async () => {
    const rows = await sandbox.session({ views: views(), timeoutMs: 20_000 }, (session) =>
      session.query('select count(*) as n, sum(n) as total from dataset', limits),
    );
    expect(rows.rows).toEqual([{ n: '1000', total: '499500' }]);
    const refused = [
      `select * from read_csv('${path.join(dir, 'secret.csv')}')`,
      `select * from '${path.join(dir, 'secret.csv')}'`,
      `select * from glob('${dir}/*')`,
      `attach '${path.join(dir, 'main.duckdb')}' as main_db`,
      'select * from secret_table',
      'set enable_external_access = true',
      "set memory_limit = '100GB'",
      'reset lock_configuration',
      'install httpfs',
      'select 1; select 2',
    ];
    for (const sql of refused) {
      const outcome = await sandbox
        .session({ views: views(), timeoutMs: 20_000 }, (session) => session.query(sql, limits))
        .then(
          (value) => JSON.stringify(value),
          (error: unknown) => {
            expect(error, sql).toBeInstanceOf(SandboxQueryError);
            return (error as Error).message;
          },
        );
      expect(outcome, sql).not.toContain(secret);
      expect(outcome, sql).toMatch(/Permission|Catalog|locked|Exactly one|does not exist/);
    }
  });

  it('stops a statement that ignores its interrupt, from outside, and the next session runs', async () => {
    // A cap high enough that only the deadline can stop this one.
    const roomy = await openDuckDb({
      path: path.join(dir, 'roomy.duckdb'),
      sandbox: { memoryBytes: 16 * 1024 * MiB, processes: 1 },
    });
    try {
      const file = roomy.sandbox.tempPath('parquet');
      await roomy.run(`copy (select range as n from range(10)) to '${file}' (format parquet)`);
      const own = [{ name: 'dataset', path: file }];
      // DuckDB does not notice an interrupt while it materializes a list: only the kill works.
      const slow = roomy.sandbox.session({ views: own, timeoutMs: 200 }, (session) =>
        session.query('select len(list_transform(range(60000000), x -> x + 1)) as n', limits),
      );
      await expect(slow).rejects.toSatisfy(
        (error: unknown) => error instanceof SandboxLimitError && error.reason === 'timeout',
      );
      const next = await roomy.sandbox.session({ views: own, timeoutMs: 20_000 }, (session) =>
        session.query('select count(*) as n from dataset', limits),
      );
      expect(next.rows).toEqual([{ n: '10' }]);
    } finally {
      await roomy.close();
    }
  });

  it('kills a process past its memory cap (DuckDB’s own limit does not bound a list)', async () => {
    const huge = sandbox.session({ views: views(), timeoutMs: 600_000 }, (session) =>
      session.query('select len(range(200000000)) as n', limits),
    );
    await expect(huge).rejects.toSatisfy(
      (error: unknown) => error instanceof SandboxLimitError && error.reason === 'memory',
    );
  });

  describe('a process that starts slowly', () => {
    // Fake timers stand for a slow start: the clock is moved on while only microtasks have run,
    // so the new process cannot have said it is ready yet (its message needs the event loop).
    const startedBehind = async (options: { startMs: number }, timeoutMs: number) => {
      vi.useFakeTimers();
      const cold = createDuckDbSandbox({
        workDir: path.join(dir, `cold-${options.startMs}`),
        memoryBytes: 300 * MiB,
        processes: 1,
        ...options,
      });
      try {
        const answer = cold.session({ views: [], timeoutMs }, (session) =>
          session.query('select 42 as n', limits),
        );
        answer.catch(() => {});
        for (let tick = 0; tick < 20; tick++) await Promise.resolve();
        vi.advanceTimersByTime(30_000);
        vi.useRealTimers();
        const outcome = await answer.then(
          (rows) => ({ rows }),
          (error: unknown) => ({ error }),
        );
        // The slot is free again: a next session gets a process that answers.
        const next = await cold.session({ views: [], timeoutMs: 20_000 }, (session) =>
          session.query('select 1 as one', limits),
        );
        expect(next.rows).toEqual([{ one: 1 }]);
        return outcome;
      } finally {
        vi.useRealTimers();
        await cold.close();
      }
    };

    it("does not count the start against the statement's deadline", async () => {
      // 30 s pass before the process is ready; the statement's own 5 s start after that.
      const outcome = await startedBehind({ startMs: 60_000 }, 5_000);
      expect(outcome).toEqual({
        rows: { columns: expect.any(Array), rows: [{ n: 42 }], truncated: false },
      });
    });

    it('kills a process that does not start in time, and frees its slot', async () => {
      const outcome = await startedBehind({ startMs: 5_000 }, 600_000);
      expect(outcome).toEqual({ error: expect.any(SandboxLimitError) });
      const error = (outcome as { error: SandboxLimitError }).error;
      expect([error.reason, error.message]).toEqual(['crashed', 'The query process did not start']);
    });
  });

  it('queues sessions beyond its processes, and closing kills whatever runs', async () => {
    const running = sandbox.session({ views: views(), timeoutMs: 600_000 }, (session) =>
      session.query('select count(*) from dataset a, dataset b, dataset c, dataset d', limits),
    );
    // One process: this one waits for the first, and is refused when the sandbox closes.
    const waiting = sandbox.session({ views: views(), timeoutMs: 600_000 }, (session) =>
      session.query('select 1 as one', limits),
    );
    const outcomes = Promise.allSettled([running, waiting]);
    await sandbox.close();
    for (const outcome of await outcomes) {
      expect(outcome.status).toBe('rejected');
      const reason = (outcome as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(SandboxLimitError);
      expect((reason as SandboxLimitError).reason).toBe('closed');
    }
  });
});
