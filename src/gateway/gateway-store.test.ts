import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestStorage,
  openTestDatabase,
  type TestStorage,
  testBackends,
} from '../../test/test-platform.ts';
import type { Database } from '../platform/db/database.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createGatewayStore, type GatewayStore } from './gateway-store.ts';

// The rate window under concurrency, on every backend: PGlite runs statements one at a time,
// PostgreSQL runs them at once on a pool, and the conditional upsert must hold either way.
describe.each(testBackends())('gateway rate windows on %s', (backend) => {
  let storage: TestStorage;
  let database: Database;
  let store: GatewayStore;
  let projectId: string;

  beforeAll(async () => {
    storage = await createTestStorage(backend);
    database = await openTestDatabase(storage, 8);
    store = createGatewayStore(database.db);
    projectId = uuidv7();
    await sql`insert into project (id, name) values (${projectId}, 'Gateway')`.execute(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await storage?.dispose();
  });

  async function newKey(limits: { rpm?: number; tpm?: number }) {
    const secret = uuidv7();
    return database.db.transaction().execute((trx) =>
      store.insert(trx, {
        id: uuidv7(),
        projectId,
        name: 'k',
        prefix: 'bcgw_x',
        keyHash: secret.replaceAll('-', '').padEnd(64, '0'),
        models: [{ name: 'fast', provider: undefined, model: 'gpt-4o-mini', fallbacks: [] }],
        requestsPerMinute: limits.rpm,
        tokensPerMinute: limits.tpm,
        cache: false,
        createdBy: undefined,
      }),
    );
  }

  const windowStart = new Date('2026-12-06T10:00:00Z');

  it('admits exactly the requests per minute among 50 concurrent reservations', async () => {
    const key = await newKey({ rpm: 10 });
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        store.reserveWindow({
          keyId: key.id,
          windowStart,
          tokens: 1,
          requestsPerMinute: 10,
          tokensPerMinute: undefined,
        }),
      ),
    );
    expect(results.filter((result) => result.ok)).toHaveLength(10);
    expect(results.find((result) => !result.ok)).toMatchObject({ limit: 'requests', requests: 10 });
    // The next minute is a new window.
    const next = await store.reserveWindow({
      keyId: key.id,
      windowStart: new Date(windowStart.getTime() + 60_000),
      tokens: 1,
      requestsPerMinute: 10,
      tokensPerMinute: undefined,
    });
    expect(next.ok).toBe(true);
  });

  it('admits exactly the token estimates that fit the tokens per minute, and settles to usage', async () => {
    const key = await newKey({ tpm: 1_000 });
    const reserve = () =>
      store.reserveWindow({
        keyId: key.id,
        windowStart,
        tokens: 100,
        requestsPerMinute: undefined,
        tokensPerMinute: 1_000,
      });
    const results = await Promise.all(Array.from({ length: 50 }, reserve));
    expect(results.filter((result) => result.ok)).toHaveLength(10);
    expect((await reserve()).ok).toBe(false);
    // Two calls used 10 tokens each instead of 100: room for one more estimate.
    await store.settleWindow(key.id, windowStart, 100, 10);
    await store.settleWindow(key.id, windowStart, 100, 10);
    expect((await reserve()).ok).toBe(true);
    expect((await reserve()).ok).toBe(false);
  });

  it('sweeps windows older than a cut-off', async () => {
    const key = await newKey({ rpm: 5 });
    const old = new Date('2026-12-06T08:00:00Z');
    await store.reserveWindow({
      keyId: key.id,
      windowStart: old,
      tokens: 1,
      requestsPerMinute: 5,
      tokensPerMinute: undefined,
    });
    await store.sweepWindows(new Date('2026-12-06T09:00:00Z'));
    const left = await database.db
      .selectFrom('gateway_key_window')
      .select('window_start')
      .where('key_id', '=', key.id)
      .execute();
    expect(left).toEqual([]);
  });
});
