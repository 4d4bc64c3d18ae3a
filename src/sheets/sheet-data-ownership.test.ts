import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectionOf } from '../../test/rejection.ts';
import { createTestStorage, type TestStorage, testBackends } from '../../test/test-platform.ts';
import { AppError } from '../platform/app-error.ts';
import {
  createDatasetLeases,
  type DatasetLeases,
  DatasetOwnedElsewhere,
} from '../platform/datasets/dataset-leases.ts';
import { type Database, openDatabase } from '../platform/db/database.ts';
import { type DuckDb, openDuckDb } from '../platform/duckdb/duckdb.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createLogger } from '../platform/logger.ts';
import { createSheetDataStore, type SheetDataStore } from './sheet-data-store.ts';
import type { ColumnRef } from './sheet-query.ts';

const TTL = 30_000;
const MARGIN = TTL / 3;

/**
 * Two "servers" in one process: each its own DuckDB instance, lease holder and data store,
 * sharing one storage folder and one PostgreSQL (or PGlite) database; one fake clock.
 */
describe.each(testBackends())('dataset ownership across servers (%s)', (backend) => {
  let storage: TestStorage;
  let shared: string;
  let clock = Date.parse('2026-12-06T12:00:00Z');
  const opened: { close(): Promise<void> }[] = [];
  const name: ColumnRef = { id: uuidv7(), type: 'text', kind: 'static' };

  interface Server {
    leases: DatasetLeases;
    duckdb: DuckDb;
    store: SheetDataStore;
  }
  let a: Server;
  let b: Server;
  let pglite: Database | undefined;

  const database = async () => {
    if (backend === 'pglite') {
      pglite ??= await openDatabase({ kind: 'pglite', dataDir: path.join(storage.dataDir, 'pg') });
      return pglite;
    }
    const pool = await openDatabase({
      kind: 'postgres',
      connectionString: storage.databaseUrl!,
      poolSize: 2,
    });
    opened.push(pool);
    return pool;
  };

  const server = async (label: string): Promise<Server> => {
    const duckdb = await openDuckDb({
      path: path.join(shared, label, 'braincells.duckdb'),
      datasetsDir: path.join(shared, 'datasets'),
      connections: 2,
      threads: 1,
    });
    opened.unshift(duckdb); // closed before the databases
    const leases = createDatasetLeases({
      database: await database(),
      serverId: uuidv7(),
      internalUrl: () => `http://${label}.internal:3000`,
      ttlMs: TTL,
      logger: createLogger({ level: 'silent', format: 'json' }),
      now: () => clock,
      onLost: (datasetId) => duckdb.datasets.detach(datasetId),
    });
    duckdb.datasets.setGuard(leases);
    return { leases, duckdb, store: createSheetDataStore({ duckdb }) };
  };

  beforeAll(async () => {
    storage = await createTestStorage(backend);
    shared = mkdtempSync(path.join(os.tmpdir(), 'bc-shared-storage-'));
    a = await server('a');
    b = await server('b');
  });
  afterAll(async () => {
    for (const entry of opened) await entry.close();
    await pglite?.close();
    rmSync(shared, { recursive: true, force: true });
    await storage.dispose();
  });

  const edit = (server: Server, datasetId: string, value: string, expectedVersion: number) =>
    server.store.compareAndSetCells(datasetId, name, [
      { rowId: 1n, expectedVersion, value, state: { status: 'done' } },
    ]);
  const refusal = (work: Promise<unknown>) => rejectionOf(AppError, work);

  it('lets one server at a time hold a dataset: the other is refused and told who holds it', async () => {
    const datasetId = uuidv7();
    await a.store.createTable(datasetId, [name], 2);
    expect((await edit(a, datasetId, 'from a', 0)).applied).toHaveLength(1);

    // Both writes and reads go to the holder.
    const write = await refusal(edit(b, datasetId, 'from b', 1));
    expect(write).toBeInstanceOf(DatasetOwnedElsewhere);
    expect((write as DatasetOwnedElsewhere).ownerUrl).toBe('http://a.internal:3000');
    expect(write.code).toBe('SERVICE_UNAVAILABLE');
    expect(write.retryable).toBe(true);
    await expect(b.store.rowCount(datasetId)).rejects.toBeInstanceOf(DatasetOwnedElsewhere);
    expect(await b.leases.owner(datasetId)).toEqual({
      serverId: a.leases.serverId,
      url: 'http://a.internal:3000',
    });

    // Racing claims from both servers on a free dataset: exactly one wins.
    const raced = uuidv7();
    const outcomes = await Promise.allSettled([a.leases.claim(raced), b.leases.claim(raced)]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect([a.leases.holds(raced), b.leases.holds(raced)].filter(Boolean)).toHaveLength(1);
  });

  it('renews held leases by heartbeat, so a live owner keeps its datasets past the TTL', async () => {
    const datasetId = uuidv7();
    await a.store.createTable(datasetId, [name], 1);
    for (let beat = 0; beat < 6; beat++) {
      clock += MARGIN;
      await a.leases.renew();
      await b.leases.renew();
    }
    expect(a.leases.holds(datasetId)).toBe(true);
    await expect(b.leases.claim(datasetId)).rejects.toBeInstanceOf(DatasetOwnedElsewhere);
    expect((await edit(a, datasetId, 'still a', 0)).applied).toHaveLength(1);
  });

  it('takes over a lease whose holder stopped heartbeating; the old holder stops writing first and is refused after (fencing)', async () => {
    const datasetId = uuidv7();
    await a.store.createTable(datasetId, [name], 1);
    expect((await edit(a, datasetId, 'v1 from a', 0)).applied).toHaveLength(1);
    const tokenA = a.leases.token(datasetId)!;

    // A's heartbeats stop (a paused or cut-off server). A third of the TTL before its row
    // expires, A no longer counts itself the holder (its writes stop) — while B may not claim
    // yet: nobody writes.
    clock += TTL - MARGIN;
    expect(a.leases.holds(datasetId)).toBe(false);
    await expect(b.leases.claim(datasetId)).rejects.toBeInstanceOf(DatasetOwnedElsewhere);

    // Past the expiry B takes over with the next fencing token. A still has the file open
    // (it has not noticed): B cannot attach it until A lets go.
    clock += MARGIN + 1;
    expect(await b.leases.owner(datasetId)).toBeUndefined();
    const handover = await refusal(edit(b, datasetId, 'v2 from b', 1));
    expect(handover.code).toBe('SERVICE_UNAVAILABLE');
    expect(b.leases.token(datasetId)).toBe(tokenA + 1);

    // A wakes up and writes with its old lease: refused, and A closes the file.
    const stale = await refusal(edit(a, datasetId, 'late write from a', 1));
    expect(stale).toBeInstanceOf(DatasetOwnedElsewhere);
    expect(a.duckdb.datasets.attached()).not.toContain(datasetId);

    // B now opens the file, sees A's committed value, and its compare-and-set goes on from it.
    const [read] = [...(await b.store.readCells(datasetId, [name], [1n])).values()];
    expect(read?.[name.id]?.value).toBe('v1 from a');
    expect((await edit(b, datasetId, 'v2 from b', 1)).applied).toEqual([
      expect.objectContaining({ version: 2, value: 'v2 from b' }),
    ]);
    // A's heartbeat finds the token moved on and keeps nothing.
    await a.leases.renew();
    expect(a.leases.holds(datasetId)).toBe(false);
    expect(await a.leases.owner(datasetId)).toEqual({
      serverId: b.leases.serverId,
      url: 'http://b.internal:3000',
    });
  });

  it('a heartbeat that finds its lease taken over detaches the file at once', async () => {
    const datasetId = uuidv7();
    await a.store.createTable(datasetId, [name], 1);
    expect(a.duckdb.datasets.attached()).toContain(datasetId);
    // Another server took the row over (its expiry passed while A was cut off from the database).
    await (await database()).db
      .updateTable('dataset_lease')
      .set({ owner_id: b.leases.serverId, token: 99 })
      .where('dataset_id', '=', datasetId)
      .execute();
    await a.leases.renew();
    expect(a.leases.holds(datasetId)).toBe(false);
    expect(a.duckdb.datasets.attached()).not.toContain(datasetId);
    // A write that got past the claim now stops at the check under the dataset's lock.
    expect(() => a.leases.checkWrite(datasetId)).toThrow(/no longer holds/);
  });

  it('gives leases up when a dataset is dropped or the server stops, so another claims at once', async () => {
    const dropped = uuidv7();
    await a.store.createTable(dropped, [name], 1);
    await a.store.dropTable(dropped);
    expect(await b.leases.owner(dropped)).toBeUndefined();

    const kept = uuidv7();
    await a.store.createTable(kept, [name], 1);
    await edit(a, kept, 'before a stops', 0);
    await a.duckdb.close(); // files first, then the leases (as platform.close does)
    await a.leases.stop();
    const [read] = [...(await b.store.readCells(kept, [name], [1n])).values()];
    expect(read?.[name.id]?.value).toBe('before a stops');
  });
});
