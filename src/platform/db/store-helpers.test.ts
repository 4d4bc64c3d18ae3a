import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createTestStorage,
  openTestDatabase,
  type TestStorage,
  testBackends,
} from '../../../test/test-platform.ts';
import { uuidv7 } from '../ids.ts';
import type { Database } from './database.ts';
import {
  deleteMatching,
  selectMatching,
  stampFirst,
  stampOnce,
  touchAtMostEvery,
  updateMatchingRow,
  updateMatchingRows,
} from './store-helpers.ts';

describe.each(testBackends())('store helpers on %s', (backend) => {
  let storage: TestStorage;
  let database: Database;
  const userId = uuidv7();
  const t0 = new Date('2026-12-06T10:00:00Z');
  const later = (ms: number) => new Date(t0.getTime() + ms);

  beforeAll(async () => {
    storage = await createTestStorage(backend);
    database = await openTestDatabase(storage, 4);
    await database.db
      .insertInto('app_user')
      .values({
        id: userId,
        email: `${userId}@example.com`,
        password_hash: 'x',
        mfa_secret: null,
        mfa_pending_secret: null,
        mfa_last_step: null,
        password_changed_at: t0,
        created_at: t0,
        updated_at: t0,
      })
      .execute();
  });
  afterAll(async () => {
    await database?.close();
    await storage?.dispose();
  });
  beforeEach(async () => {
    await database.db.deleteFrom('auth_token').execute();
    await database.db.deleteFrom('api_key').execute();
  });

  // Setup tokens have no user; the other kinds belong to one.
  const addToken = async (kind: 'setup' | 'password-reset') => {
    const id = uuidv7();
    await database.db
      .insertInto('auth_token')
      .values({
        id,
        kind,
        user_id: kind === 'setup' ? null : userId,
        token_hash: id,
        expires_at: later(3_600_000),
        created_at: t0,
      })
      .execute();
    return id;
  };
  /** One row's time column, read back. */
  const timeOf = async (table: 'auth_token' | 'api_key', column: string, id: string) => {
    const { rows } = await sql<{ at: Date | null }>`
      select ${sql.ref(column)} as at from ${sql.table(table)} where id = ${id}`.execute(
      database.db,
    );
    return rows[0]?.at;
  };
  const usedAt = (id: string) => timeOf('auth_token', 'used_at', id);

  it('stampOnce sets the time on the matching rows still unset, and counts them', async () => {
    const first = await addToken('setup');
    const second = await addToken('setup');
    const other = await addToken('password-reset');
    expect(await stampOnce(database.db, 'auth_token', 'used_at', later(1), { id: first })).toBe(1);
    // `user_id: null` matches "is null"; the row already stamped is left as it was.
    expect(
      await stampOnce(database.db, 'auth_token', 'used_at', later(2), {
        kind: 'setup',
        user_id: null,
      }),
    ).toBe(1);
    expect(await usedAt(first)).toEqual(later(1));
    expect(await usedAt(second)).toEqual(later(2));
    expect(await usedAt(other)).toBeNull();
  });

  it('stampOnce: of two callers racing for one row, exactly one sets it', async () => {
    const id = await addToken('setup');
    const results = await Promise.all(
      [later(1), later(2)].map((at) =>
        database.db
          .transaction()
          .execute((trx) => stampOnce(trx, 'auth_token', 'used_at', at, { id })),
      ),
    );
    expect(results.sort()).toEqual([0, 1]);
  });

  it('refuses a match with no column rather than writing every row', async () => {
    const id = await addToken('setup');
    await expect(stampOnce(database.db, 'auth_token', 'used_at', later(1), {})).rejects.toThrow(
      /without a row to match/,
    );
    await expect(
      stampOnce(database.db, 'auth_token', 'used_at', later(1), { id: undefined }),
    ).rejects.toThrow(/without a row to match/);
    expect(await usedAt(id)).toBeNull();
  });

  it('touchAtMostEvery writes an unset time, then only once the granularity has passed', async () => {
    const keyId = uuidv7();
    await database.db
      .insertInto('api_key')
      .values({
        id: keyId,
        user_id: userId,
        name: 'k',
        prefix: 'pfx1',
        key_hash: keyId,
        scopes: ['read'],
        expires_at: null,
        created_at: t0,
      })
      .execute();
    const lastUsed = () => timeOf('api_key', 'last_used_at', keyId);
    const touch = (at: Date) =>
      touchAtMostEvery(database.db, 'api_key', 'last_used_at', at, 60_000, { id: keyId });

    await touch(t0);
    expect(await lastUsed()).toEqual(t0);
    await touch(later(59_999));
    expect(await lastUsed()).toEqual(t0);
    await touch(later(60_001));
    expect(await lastUsed()).toEqual(later(60_001));
  });

  it('selectMatching, updateMatchingRow(s) and deleteMatching reach exactly the matching rows', async () => {
    const setup = await addToken('setup');
    const reset = await addToken('password-reset');
    const ids = async (match: Parameters<typeof selectMatching<'auth_token'>>[2]) =>
      (await selectMatching(database.db, 'auth_token', match).orderBy('id').execute()).map(
        (row) => row.id,
      );

    // null matches "is null": the setup token is the one without a user.
    expect(await ids({ user_id: null })).toEqual([setup]);
    expect(await ids({ user_id: userId, used_at: null })).toEqual([reset]);
    const row = await updateMatchingRow(
      database.db,
      'auth_token',
      { attempts: 2 },
      { id: reset, kind: 'password-reset' },
    );
    expect(row?.attempts).toBe(2);
    expect(
      await updateMatchingRow(
        database.db,
        'auth_token',
        { attempts: 3 },
        { id: reset, kind: 'setup' },
      ),
    ).toBeUndefined();
    expect(
      await updateMatchingRows(database.db, 'auth_token', { attempts: 1 }, { used_at: null }),
    ).toBe(2);
    expect(await deleteMatching(database.db, 'auth_token', { id: setup, user_id: userId })).toBe(0);
    expect(await deleteMatching(database.db, 'auth_token', { id: setup, user_id: null })).toBe(1);
    expect(await ids({ used_at: null })).toEqual([reset]);
  });

  it('refuses an empty match or an undefined value on reads and deletes too', async () => {
    const id = await addToken('setup');
    expect(() => selectMatching(database.db, 'auth_token', {})).toThrow(/without a row to match/);
    expect(() =>
      selectMatching(database.db, 'auth_token', { id: undefined, used_at: null }),
    ).toThrow(/id is undefined/);
    await expect(
      deleteMatching(database.db, 'auth_token', { id: undefined, kind: 'setup' }),
    ).rejects.toThrow(/id is undefined/);
    // Nothing was deleted.
    expect(await selectMatching(database.db, 'auth_token', { id }).execute()).toHaveLength(1);
  });

  it('stampFirst: true for the call that set the time, false after', async () => {
    const id = await addToken('setup');
    expect(await stampFirst(database.db, 'auth_token', 'used_at', later(1), { id })).toBe(true);
    expect(await stampFirst(database.db, 'auth_token', 'used_at', later(2), { id })).toBe(false);
    expect(await usedAt(id)).toEqual(later(1));
  });
});
