import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStorage, type TestStorage, testBackends } from '../../test/test-platform.ts';
import { type Database, openDatabase } from '../platform/db/database.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createLogger } from '../platform/logger.ts';
import { type Budget, createBudgetStore, periodStart } from './llm-budget-store.ts';
import { createResponseCache } from './llm-cache.ts';
import { UNKNOWN_USAGE } from './llm-provider.ts';
import { createProject, usageRowFixture } from './llm-test-env.ts';
import { UsageRecorder } from './llm-usage-recorder.ts';
import { createUsageStore, rollup } from './llm-usage-store.ts';

describe('periodStart (UTC)', () => {
  const at = new Date('2026-11-19T17:45:00Z'); // a Thursday
  it.each([
    ['day', '2026-11-19T00:00:00.000Z'],
    ['week', '2026-11-16T00:00:00.000Z'],
    ['month', '2026-11-01T00:00:00.000Z'],
    ['total', '1970-01-01T00:00:00.000Z'],
  ] as const)('%s → %s', (period, expected) => {
    expect(periodStart(period, at).toISOString()).toBe(expected);
  });

  it('starts weeks on Monday, also from a Sunday', () => {
    expect(periodStart('week', new Date('2026-11-22T23:59:00Z')).toISOString()).toBe(
      '2026-11-16T00:00:00.000Z',
    );
  });
});

const row = usageRowFixture;

describe('rollup', () => {
  it('counts calls once (attempt 1), attempts, errors, hits, unpriced and sums', () => {
    const [sum] = rollup([
      row('p', { attempt: 1, status: 'error', costNano: 0 }),
      row('p', { attempt: 2, costNano: 100 }),
      row('p', {
        attempt: 1,
        status: 'cache-hit',
        cacheStatus: 'hit',
        costNano: 0,
        savedNano: 100,
      }),
      row('p', { attempt: 1, costNano: null, usage: UNKNOWN_USAGE }),
    ]);
    expect(sum).toMatchObject({
      calls: 3,
      attempts: 3,
      errors: 1,
      cache_hits: 1,
      cache_misses: 2,
      cost_nano: 100,
      unpriced_attempts: 1,
      saved_nano: 100,
      uncached_input_tokens: 30,
      output_tokens: 15,
    });
  });
});

/** A cached answer of `text` from gpt-4o-mini, as the response cache stores it. */
const cachedResponse = (text: string, costNano: number) => ({
  text,
  output: undefined,
  finishReason: 'stop' as const,
  providerRef: 'env:openai',
  providerKind: 'openai',
  model: 'gpt-4o-mini',
  usage: UNKNOWN_USAGE,
  costNano,
});

/** `db` counting every statement run through it (read `counter.statements`). */
const countingStatements = (db: Database['db']) => {
  const counter = {
    statements: 0,
    db: db.withPlugin({
      transformQuery: (args) => {
        counter.statements++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    }),
  };
  return counter;
};

describe.each(testBackends())('llm stores on %s', (backend) => {
  let storage: TestStorage;
  let database: Database;
  let projectId: string;

  beforeAll(async () => {
    storage = await createTestStorage(backend);
    database = storage.databaseUrl
      ? await openDatabase({
          kind: 'postgres',
          connectionString: storage.databaseUrl,
          poolSize: 10,
        })
      : await openDatabase({ kind: 'pglite', dataDir: path.join(storage.dataDir, 'pg') });
    projectId = await createProject(database);
  });
  afterAll(async () => {
    await database?.close();
    await storage?.dispose();
  });

  it('writes usage rows and the daily rollup together, and reads spend back by dimension', async () => {
    const store = createUsageStore(database.db);
    await store.insert([
      row(projectId, { model: 'a', costNano: 100 }),
      row(projectId, { model: 'b', costNano: 250, feature: 'sheet-cell' }),
      row(projectId, { model: 'a', costNano: 50, createdAt: new Date('2026-11-21T10:00:00Z') }),
    ]);
    await store.insert([row(projectId, { model: 'a', costNano: 1 })]);
    const byModel = await store.spend({
      projectId,
      since: new Date('2026-11-01'),
      groupBy: ['model'],
    });
    expect(byModel.map((r) => [r.model, r.costNano, r.calls])).toEqual([
      ['a', 151, 3],
      ['b', 250, 1],
    ]);
    const byDay = await store.spend({ projectId, since: new Date('2026-11-21'), groupBy: ['day'] });
    expect(byDay).toEqual([expect.objectContaining({ day: '2026-11-21', costNano: 50 })]);
    const total = await store.spend({ projectId, since: new Date('2026-11-01'), groupBy: [] });
    expect(total[0]?.costNano).toBe(401);
  });

  it('refuses to update a usage row (append-only)', async () => {
    const store = createUsageStore(database.db);
    const usage = row(projectId);
    await store.insert([usage]);
    await expect(
      sql`update llm_calls set cost_nano = 0 where id = ${usage.id}`.execute(database.db),
    ).rejects.toThrow(/append-only/);
  });

  it('keeps rows the database refused and writes them on the next flush', async () => {
    const store = createUsageStore(database.db);
    let fail = true;
    const recorder = new UsageRecorder({
      store: {
        insert: async (rows) => {
          if (fail) throw new Error('database is down');
          await store.insert(rows);
        },
      },
      logger: createLogger({ level: 'silent', format: 'json' }),
      flushMs: 10_000,
    });
    const pending = row(projectId, { feature: 'recorder-test' });
    recorder.add(pending);
    await recorder.flush();
    expect(recorder.pending).toBe(1);
    fail = false;
    await recorder.close();
    expect(recorder.pending).toBe(0);
    const rows = await database.db
      .selectFrom('llm_calls')
      .select('id')
      .where('id', '=', pending.id)
      .execute();
    expect(rows).toHaveLength(1);
  });

  async function budget(hardLimitNano: number): Promise<Budget> {
    return createBudgetStore(database.db).insert({
      id: uuidv7(),
      projectId: await createProject(database),
      userId: undefined,
      period: 'day',
      hardLimitNano,
      softLimitNano: undefined,
      createdBy: undefined,
    });
  }

  it('reserves atomically: concurrent reservations never pass the hard limit together', async () => {
    const store = createBudgetStore(database.db);
    const limited = await budget(1_000);
    const at = new Date();
    const results = await Promise.all(
      Array.from({ length: 40 }, () =>
        store.reserve({
          reservationId: uuidv7(),
          budgets: [limited],
          amountNano: 100,
          at,
          expiresAt: new Date(at.getTime() + 60_000),
        }),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    const [state] = await store.states([limited], at);
    expect(state?.reservedNano).toBe(1_000);
  });

  it('settles a reservation into spend, and sweeps expired reservations', async () => {
    const store = createBudgetStore(database.db);
    const limited = await budget(1_000);
    const at = new Date();
    const kept = await store.reserve({
      reservationId: uuidv7(),
      budgets: [limited],
      amountNano: 300,
      at,
      expiresAt: new Date(at.getTime() + 60_000),
    });
    const lost = await store.reserve({
      reservationId: uuidv7(),
      budgets: [limited],
      amountNano: 400,
      at,
      expiresAt: new Date(at.getTime() - 1),
    });
    if (!kept.ok || !lost.ok) throw new Error('expected both reservations');
    const keptId = (
      await database.db
        .selectFrom('llm_budget_reservation')
        .select(['id', 'amount_nano'])
        .where('amount_nano', '=', 300)
        .where('budget_id', '=', limited.id)
        .executeTakeFirstOrThrow()
    ).id;
    await store.settle(keptId, kept.holds, 120);
    expect(await store.releaseExpired(new Date())).toBeGreaterThanOrEqual(1);
    const [state] = await store.states([limited], at);
    expect(state).toMatchObject({ spentNano: 120, reservedNano: 0 });
  });

  it('seeds a new period with the spend already recorded in it', async () => {
    const store = createBudgetStore(database.db);
    const limited = await budget(10_000);
    await createUsageStore(database.db).insert([
      row(limited.projectId, { costNano: 777, createdAt: new Date() }),
    ]);
    const [state] = await store.states([limited], new Date());
    expect(state?.spentNano).toBe(777);
  });

  it('keeps cache entries per project and clears one project only', async () => {
    const cache = createResponseCache(database.db, 10);
    const other = await createProject(database);
    const response = cachedResponse('hello', 42);
    const key = 'a'.repeat(64);
    cache.put(projectId, key, response);
    cache.put(other, key, { ...response, text: 'other' });
    await cache.flush();
    const cold = createResponseCache(database.db, 0);
    expect((await cold.get(projectId, key))?.text).toBe('hello');
    expect((await cold.get(other, key))?.text).toBe('other');
    expect(await cache.clear(projectId)).toBe(1);
    expect(await cache.get(projectId, key)).toBeUndefined();
    expect((await cache.get(other, key))?.costNano).toBe(42);
  });

  it('looks up many keys at once in few statements, each answered its own entry', async () => {
    const counted = countingStatements(database.db);
    const writer = createResponseCache(database.db, 0);
    const other = await createProject(database);
    const response = (text: string) => cachedResponse(text, text.length);
    const keys = Array.from({ length: 40 }, (_, index) => index.toString(16).padStart(64, 'b'));
    // Even keys stored for this project; the same keys of the other project say "other".
    for (const [index, key] of keys.entries()) {
      if (index % 2 === 0) writer.put(projectId, key, response(`answer ${index}`));
      writer.put(other, key, response('other'));
    }
    await writer.flush();
    const cold = createResponseCache(counted.db, 0);
    const found = await Promise.all(keys.map((key) => cold.get(projectId, key)));
    expect(found.map((entry) => entry?.text)).toEqual(
      keys.map((_, index) => (index % 2 === 0 ? `answer ${index}` : undefined)),
    );
    expect(found[2]?.costNano).toBe('answer 2'.length);
    // The first lookup goes alone; the 39 asked meanwhile share the next statement.
    expect(counted.statements).toBeLessThanOrEqual(2);
  });

  it("a run's lookups linger for company: the first waits for the others, one statement", async () => {
    const counted = countingStatements(database.db);
    const writer = createResponseCache(database.db, 0);
    const keys = Array.from({ length: 5 }, (_, index) => index.toString(16).padStart(64, 'e'));
    writer.put(projectId, keys[0]!, cachedResponse('stored', 1));
    await writer.flush();
    const cold = createResponseCache(counted.db, 0);
    // Five lookups asked together: without lingering the first goes alone at once and the
    // other four share the next statement; lingering, all five share one.
    const found = keys.map((key) => cold.get(projectId, key, true));
    const answers = (await Promise.all(found)) as ({ text: string } | undefined)[];
    expect(answers.map((entry) => entry?.text)).toEqual([
      'stored',
      ...keys.slice(1).map(() => undefined),
    ]);
    expect(counted.statements).toBe(1);
  });

  it('as the one writer, answers a key the table lacks without a statement', async () => {
    const counted = countingStatements(database.db);
    const response = (text: string) => cachedResponse(text, 7);
    const project = await createProject(database);
    const stored = 'c'.repeat(64);
    const writer = createResponseCache(database.db, 0);
    writer.put(project, stored, response('stored before'));
    await writer.flush();
    // No memory entries: every hit below is read from the table.
    const cache = createResponseCache(counted.db, 0, { soleWriter: true });
    expect((await cache.get(project, stored))?.text).toBe('stored before');
    const afterFirst = counted.statements;
    expect(afterFirst).toBe(2); // the project's keys, then the entry
    expect(await cache.get(project, 'd'.repeat(64))).toBeUndefined();
    // Same first 64 bits as a held key: asked of the table, which lacks it.
    expect(await cache.get(project, `${'c'.repeat(16)}${'0'.repeat(48)}`)).toBeUndefined();
    expect(counted.statements).toBe(afterFirst + 1);
    const written = 'e'.repeat(64);
    cache.put(project, written, response('written here'));
    await cache.flush();
    expect((await cache.get(project, written))?.text).toBe('written here');
    expect(await cache.clear(project)).toBe(2);
    expect(await cache.get(project, written)).toBeUndefined();
    expect(await cache.get(project, stored)).toBeUndefined();
  });
});
