import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStorage, type TestStorage } from '../../../test/test-platform.ts';
import { type Database, openDatabase } from './database.ts';

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
});
