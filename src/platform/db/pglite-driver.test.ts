import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStorage, type TestStorage } from '../../../test/test-platform.ts';
import { type Database, openDatabase } from './database.ts';
import { PREPARED } from './pglite-driver.ts';

describe('Kysely over PGlite', () => {
  let storage: TestStorage;
  let database: Database;
  beforeAll(async () => {
    storage = await createTestStorage('pglite');
    database = await openDatabase({ kind: 'pglite', dataDir: `${storage.dataDir}/pg` });
    await sql`create table counter (id int primary key, n int not null)`.execute(database.db);
    await sql`insert into counter values (1, 0)`.execute(database.db);
  });
  afterAll(async () => {
    await database.close();
    await storage.dispose();
  });

  const read = async () =>
    (await sql<{ n: number }>`select n from counter where id = 1`.execute(database.db)).rows[0]!.n;

  it('commits a transaction', async () => {
    await database.db.transaction().execute(async (trx) => {
      await sql`update counter set n = n + 1 where id = 1`.execute(trx);
    });
    expect(await read()).toBe(1);
  });

  it('rolls back when the callback throws', async () => {
    const before = await read();
    await expect(
      database.db.transaction().execute(async (trx) => {
        await sql`update counter set n = n + 100 where id = 1`.execute(trx);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await read()).toBe(before);
  });

  it('keeps other statements out of an open transaction', async () => {
    const before = await read();
    const { promise: inside, resolve: enteredTransaction } = Promise.withResolvers<void>();
    const { promise: proceed, resolve: letTransactionFinish } = Promise.withResolvers<void>();
    const transaction = database.db.transaction().execute(async (trx) => {
      await sql`update counter set n = n + 1 where id = 1`.execute(trx);
      enteredTransaction();
      await proceed;
      throw new Error('roll back');
    });
    await inside;
    // This statement must wait for the transaction (it shares PGlite's one session); if it
    // slipped in, it would run inside the transaction and be rolled back with it.
    const outside = sql`update counter set n = n + 10 where id = 1`.execute(database.db);
    letTransactionFinish();
    await expect(transaction).rejects.toThrow('roll back');
    await outside;
    expect(await read()).toBe(before + 10);
  });

  it('serializes concurrent transactions without lost updates', async () => {
    const before = await read();
    await Promise.all(
      Array.from({ length: 20 }, () =>
        database.db.transaction().execute(async (trx) => {
          const { rows } = await sql<{ n: number }>`select n from counter where id = 1`.execute(
            trx,
          );
          await sql`update counter set n = ${rows[0]!.n + 1} where id = 1`.execute(trx);
        }),
      ),
    );
    expect(await read()).toBe(before + 20);
  });

  it('returns int8 as a number and date as a string', async () => {
    const { rows } = await sql<{ big: number; day: string }>`
      select 9007199254740991::int8 as big, date '2026-11-21' as day`.execute(database.db);
    expect(rows[0]).toEqual({ big: 9007199254740991, day: '2026-11-21' });
    await expect(sql`select 9007199254740993::int8 as big`.execute(database.db)).rejects.toThrow(
      /2\^53/,
    );
  });

  describe('PREPARED statements', () => {
    /** Counts Parse and Bind messages PGlite receives while `work` runs. */
    async function protocolCounts(work: () => Promise<unknown>) {
      const pglite = database.pglite!;
      const original = pglite.execProtocolStream;
      const counts = { parse: 0, bind: 0 };
      pglite.execProtocolStream = ((message: Uint8Array, ...rest: unknown[]) => {
        if (message[0] === 0x50) counts.parse++;
        if (message[0] === 0x42) counts.bind++;
        return (original as (...args: unknown[]) => unknown).call(pglite, message, ...rest);
      }) as typeof original;
      try {
        await work();
      } finally {
        pglite.execProtocolStream = original;
      }
      return counts;
    }
    const bump = (by: number, db: Parameters<ReturnType<typeof sql>['execute']>[0]) =>
      sql<{
        n: number;
      }>`${PREPARED}update counter set n = n + ${by} where id = 1 returning n`.execute(db);

    it('parses once and binds each time, with the same answers as a plain statement', async () => {
      const before = await read();
      await bump(1, database.db);
      const counts = await protocolCounts(async () => {
        for (let i = 0; i < 3; i++) await bump(2, database.db);
      });
      expect(counts).toEqual({ parse: 0, bind: 3 });
      const { rows } = await bump(0, database.db);
      expect(rows).toEqual([{ n: before + 7 }]);
    });

    it('rolls back with the transaction it ran in, and keeps others out of one', async () => {
      const before = await read();
      await expect(
        database.db.transaction().execute(async (trx) => {
          await bump(100, trx);
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await read()).toBe(before);
      const { promise: inside, resolve: entered } = Promise.withResolvers<void>();
      const { promise: proceed, resolve: finish } = Promise.withResolvers<void>();
      const transaction = database.db.transaction().execute(async (trx) => {
        await sql`update counter set n = n + 1 where id = 1`.execute(trx);
        entered();
        await proceed;
        throw new Error('roll back');
      });
      await inside;
      const outside = bump(10, database.db);
      finish();
      await expect(transaction).rejects.toThrow('roll back');
      await outside;
      expect(await read()).toBe(before + 10);
    });

    it('reports a failed execution with its code and runs the next one', async () => {
      await sql`create table prepared_unique (id int primary key)`.execute(database.db);
      const insert = (id: number) =>
        sql`${PREPARED}insert into prepared_unique values (${id})`.execute(database.db);
      await insert(1);
      await expect(insert(1)).rejects.toMatchObject({ code: '23505' });
      await insert(2);
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from prepared_unique`.execute(database.db);
      expect(rows[0]!.n).toBe(2);
    });

    it('is prepared again when a schema change altered its result columns', async () => {
      await sql`create table prepared_shape (id int primary key)`.execute(database.db);
      await sql`insert into prepared_shape values (1)`.execute(database.db);
      const all = () => sql`${PREPARED}select * from prepared_shape`.execute(database.db);
      expect((await all()).rows).toEqual([{ id: 1 }]);
      await sql`alter table prepared_shape add column label text default 'a'`.execute(database.db);
      // PostgreSQL refuses a cached plan whose columns changed: that one call fails, the next
      // is prepared afresh.
      const first = await all().then(
        (result) => result.rows,
        (error: { code?: string }) => error.code,
      );
      expect([[{ id: 1, label: 'a' }], '0A000']).toContainEqual(first);
      expect((await all()).rows).toEqual([{ id: 1, label: 'a' }]);
    });
  });
});
