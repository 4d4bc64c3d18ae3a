import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDb, openDuckDb } from './duckdb.ts';
import { type DuckDbSandbox, SandboxLimitError, SandboxQueryError } from './duckdb-sandbox.ts';

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
