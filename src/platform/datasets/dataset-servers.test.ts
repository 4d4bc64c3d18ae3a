import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectionOf } from '../../../test/rejection.ts';
import { createTestStorage, type TestStorage, testBackends } from '../../../test/test-platform.ts';
import type { ServerRole } from '../config-deployment.ts';
import { type Database, openDatabase } from '../db/database.ts';
import { uuidv7 } from '../ids.ts';
import { createLogger } from '../logger.ts';
import { createDatasetLeases, DatasetOwnedElsewhere, HoldsNoDataset } from './dataset-leases.ts';
import { createDatasetServers } from './dataset-servers.ts';

const TTL = 12_000;
const logger = createLogger({ level: 'silent', format: 'json' });

// Several servers' presence on one database, with one fake clock.
describe.each(testBackends())('the live servers that may hold datasets (%s)', (backend) => {
  let storage: TestStorage;
  let database: Database;
  let clock = Date.parse('2026-12-07T09:00:00Z');
  const now = () => clock;

  beforeAll(async () => {
    storage = await createTestStorage(backend);
    database =
      backend === 'pglite'
        ? await openDatabase({ kind: 'pglite', dataDir: path.join(storage.dataDir, 'pg') })
        : await openDatabase({
            kind: 'postgres',
            connectionString: storage.databaseUrl!,
            poolSize: 2,
          });
  });
  afterAll(async () => {
    await database?.close();
    await storage?.dispose();
  });

  const server = (role: ServerRole, url: string | undefined) => {
    const serverId = uuidv7();
    return createDatasetServers({
      database,
      serverId,
      role,
      internalUrl: () => url,
      ttlMs: TTL,
      logger,
      now,
    });
  };
  const keys = Array.from({ length: 200 }, () => uuidv7());

  it('picks among live all/worker servers with a URL, the same one from every server, spread over them', async () => {
    const worker = server('worker', 'http://worker.internal:3000');
    const all = server('all', 'http://all.internal:3000');
    const noUrl = server('worker', undefined);
    const api = server('api', 'http://api.internal:3000');
    for (const each of [worker, all, noUrl, api]) await each.beat();
    // An api server writes no row: it is never picked, and never handed a run.
    expect(await database.db.selectFrom('server_presence').select('role').execute()).toHaveLength(
      3,
    );

    const picks = await Promise.all(keys.map((key) => api.pick(key)));
    const fromWorker = await Promise.all(keys.map((key) => worker.pick(key)));
    expect(fromWorker).toEqual(picks);
    const urls = picks.map((pick) => pick?.url);
    expect(new Set(urls)).toEqual(
      new Set(['http://worker.internal:3000', 'http://all.internal:3000']),
    );
    // Rendezvous hashing: each of the two gets a fair share of 200 keys.
    const toWorker = urls.filter((url) => url === 'http://worker.internal:3000').length;
    expect(toWorker).toBeGreaterThan(50);
    expect(toWorker).toBeLessThan(150);

    // The worker stops (its row goes): only the keys it had move, all to the other one.
    await worker.stop();
    const after = await Promise.all(keys.map((key) => api.pick(key)));
    for (const [index, pick] of after.entries()) {
      expect(pick?.url).toBe('http://all.internal:3000');
      if (urls[index] === 'http://all.internal:3000') expect(pick).toEqual(picks[index]);
    }
    await all.stop();
    await noUrl.stop();
  });

  it('ignores a server whose heartbeat stopped once its row expires, and answers who may hold datasets', async () => {
    const live = server('worker', 'http://live.internal:3000');
    const dying = server('all', 'http://dying.internal:3000');
    const api = server('api', undefined);
    await live.beat();
    await dying.beat();
    const liveId = (await api.pick(keys[0]!))?.serverId;
    expect(liveId).toBeDefined();

    clock += TTL - 1;
    await live.beat();
    clock += 2; // past the dying server's expiry, within the live one's
    for (const key of keys.slice(0, 50))
      expect((await api.pick(key))?.url).toBe('http://live.internal:3000');
    const [liveRow, dyingRow] = await Promise.all(
      ['http://live.internal:3000', 'http://dying.internal:3000'].map((url) =>
        database.db
          .selectFrom('server_presence')
          .select('server_id')
          .where('url', '=', url)
          .executeTakeFirstOrThrow(),
      ),
    );
    expect(await api.mayHoldAlive(liveRow!.server_id)).toBe(true);
    expect(await api.mayHoldAlive(dyingRow!.server_id)).toBe(false);
    expect(await api.mayHoldAlive(uuidv7())).toBe(false);

    clock += TTL;
    expect(await api.pick(keys[0]!)).toBeUndefined();
    await live.stop();
    await dying.stop();
  });

  it('refuses every claim on a server that may not hold datasets, naming the holder when there is one', async () => {
    const leases = (mayHold: boolean) =>
      createDatasetLeases({
        database,
        serverId: uuidv7(),
        internalUrl: () => 'http://leases.internal:3000',
        ttlMs: TTL,
        logger,
        now,
        mayHold,
        onLost: async () => {},
      });
    const api = leases(false);
    const holder = leases(true);
    const free = uuidv7();
    await expect(rejectionOf(HoldsNoDataset, api.claim(free))).resolves.toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      details: { datasetId: free },
    });
    expect(await api.owner(free)).toBeUndefined();

    const held = uuidv7();
    await holder.claim(held);
    const elsewhere = await rejectionOf(DatasetOwnedElsewhere, api.claim(held));
    expect(elsewhere.ownerId).toBe(holder.serverId);
    expect(api.holds(held)).toBe(false);
    await holder.stop();
  });
});
