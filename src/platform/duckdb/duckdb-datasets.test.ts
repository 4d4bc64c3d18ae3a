import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { duckDbPerSuite } from '../../../test/per-suite.ts';
import { uuidv7 } from '../ids.ts';
import { createDatasetFiles, type DatasetFiles, datasetCatalog } from './duckdb-datasets.ts';
import { quoteIdentifier } from './duckdb-identifiers.ts';

/**
 * Issue #20: per-dataset files are attached on demand; a server that has touched 10,000
 * datasets must not keep 10,000 files attached. Past `maxAttached`, the least recently used
 * idle datasets are detached — never one held (a write, a run, an export) or opened within
 * `idleMs` — and the next use attaches them again, their values intact. Real DuckDB files, a
 * fake clock.
 */
describe('the bound on attached dataset files', () => {
  const suite = duckDbPerSuite({ connections: 2, threads: 2 });
  let clock = 0;
  const IDLE_MS = 60_000;
  let files: DatasetFiles;
  let detached: string[];
  /** What the ownership guard was asked (the lease of each dataset, src/platform/datasets/). */
  let leases: { claimed: string[]; released: string[] };

  const table = (id: string) =>
    `${quoteIdentifier(datasetCatalog(id))}.${quoteIdentifier(datasetCatalog(id))}`;
  /** A new dataset file with one row holding `value`. */
  const create = async (value: string) => {
    const id = uuidv7();
    await files.open(id, { create: true });
    await suite.duckdb.run(`create table ${table(id)} (v varchar)`);
    await suite.duckdb.run(`insert into ${table(id)} values (?)`, [value]);
    return id;
  };
  const read = async (id: string) => {
    await files.open(id);
    const [row] = await suite.duckdb.query<{ v: string }>(`select v from ${table(id)}`);
    return row?.v;
  };
  /** Whether DuckDB itself has the file attached (not only our map). */
  const inDuckDb = async (id: string) =>
    (
      await suite.duckdb.query<{ n: bigint }>(
        'select count(*) as n from duckdb_databases() where database_name = ?',
        [datasetCatalog(id)],
      )
    )[0]!.n === 1n;
  const fresh = (maxAttached: number) => {
    files?.forgetAll();
    files = createDatasetFiles({
      dir: path.join(suite.dir, `datasets-${uuidv7()}`),
      run: (sql) => suite.duckdb.run(sql),
      maxAttached,
      idleMs: IDLE_MS,
      now: () => clock,
    });
    detached = [];
    files.onDetach((id) => detached.push(id));
    leases = { claimed: [], released: [] };
    files.setGuard({
      claim: async (id) => {
        leases.claimed.push(id);
      },
      checkWrite: () => {},
      release: async (id) => {
        leases.released.push(id);
      },
    });
  };

  it('detaches the least recently used idle dataset past the bound; its next read attaches it again', async () => {
    fresh(2);
    const a = await create('alpha');
    const b = await create('beta');
    clock += IDLE_MS + 1;
    await read(a); // a used again: b is now the least recently used
    clock += IDLE_MS + 1;
    const c = await create('gamma');
    await read(a); // waits for any detach in flight
    await read(c);
    await eventually(() => detached.length === 1);
    expect(detached).toEqual([b]);
    expect(files.attached().sort()).toEqual([a, c].sort());
    expect(await inDuckDb(b)).toBe(false);
    // Its lease given up with it (another server may take it at once).
    expect(leases.released).toEqual([b]);

    // The next read of b attaches it again, its value intact; the least recently used goes.
    clock += IDLE_MS + 1;
    const claims = leases.claimed.filter((id) => id === b).length;
    expect(await read(b)).toBe('beta');
    expect(await inDuckDb(b)).toBe(true);
    expect(leases.claimed.filter((id) => id === b).length).toBe(claims + 1);
    expect(files.attached()).toHaveLength(2);
    await eventually(() => detached.length === 2);
    expect(detached).toEqual([b, a]);
  });

  it('never detaches a held dataset (a write, a run, an export), nor one used within the idle time', async () => {
    fresh(1);
    const held = await create('held');
    const release = files.hold(held);
    clock += IDLE_MS + 1;
    const recent = await create('recent');
    // Both stay: one is held, the other was just used (a soft bound).
    await read(held);
    expect(files.attached().sort()).toEqual([held, recent].sort());
    expect(detached).toEqual([]);

    // A write held for long: still attached, and written, while others come and go.
    clock += 10 * IDLE_MS;
    const others = [await create('x'), await create('y')];
    await suite.duckdb.run(`insert into ${table(held)} values ('written while held')`);
    expect(files.attached()).toContain(held);
    expect(await inDuckDb(held)).toBe(true);
    await eventually(() => detached.includes(recent));
    expect(detached).not.toContain(held);

    // Released, and idle past the time: it is evicted like any other, and comes back.
    release();
    release(); // a second release changes nothing
    clock += IDLE_MS + 1;
    await create('z');
    await read(others[1]!);
    await eventually(() => detached.includes(held));
    expect(await inDuckDb(held)).toBe(false);
    const [row] = await (async () => {
      await files.open(held);
      return suite.duckdb.query<{ n: bigint }>(`select count(*) as n from ${table(held)}`);
    })();
    expect(row!.n).toBe(2n);
  });

  it('an open during the eviction of the same dataset waits for its DETACH, then attaches it', async () => {
    fresh(1);
    const a = await create('a');
    clock += IDLE_MS + 1;
    const b = await create('b'); // evicts a (its DETACH in flight)
    const [valueA, valueB] = await Promise.all([read(a), read(b)]);
    expect([valueA, valueB]).toEqual(['a', 'b']);
    expect(await inDuckDb(a)).toBe(true);
  });
});
