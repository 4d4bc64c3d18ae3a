import type { Selectable } from 'kysely';
import type { ApiKeyTable } from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';
import { touchAtMostEvery } from '../platform/db/store-helpers.ts';
import type { UserRow } from './user-store.ts';

export type ApiKeyRow = Selectable<ApiKeyTable>;

export async function insertApiKey(
  db: Executor,
  row: Pick<ApiKeyRow, 'id' | 'user_id' | 'name' | 'prefix' | 'key_hash' | 'scopes'> & {
    expires_at: Date | null;
    now: Date;
  },
): Promise<ApiKeyRow> {
  const { now, ...values } = row;
  return db
    .insertInto('api_key')
    .values({ ...values, created_at: now })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findApiKeyByHash(
  db: Executor,
  keyHash: string,
): Promise<{ key: ApiKeyRow; user: UserRow } | undefined> {
  const key = await db
    .selectFrom('api_key')
    .selectAll()
    .where('key_hash', '=', keyHash)
    .executeTakeFirst();
  if (!key) return undefined;
  const user = await db
    .selectFrom('app_user')
    .selectAll()
    .where('id', '=', key.user_id)
    .executeTakeFirst();
  return user ? { key, user } : undefined;
}

export async function listApiKeys(db: Executor, userId: string): Promise<ApiKeyRow[]> {
  return db
    .selectFrom('api_key')
    .selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .orderBy('created_at', 'desc')
    .execute();
}

export async function revokeApiKey(
  db: Executor,
  userId: string,
  keyId: string,
  now: Date,
): Promise<ApiKeyRow | undefined> {
  return db
    .updateTable('api_key')
    .set({ revoked_at: now })
    .where('id', '=', keyId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/** At most one write per key per `granularityMs`. */
export async function touchApiKey(
  db: Executor,
  keyId: string,
  now: Date,
  granularityMs: number,
): Promise<void> {
  await touchAtMostEvery(db, 'api_key', 'last_used_at', now, granularityMs, { id: keyId });
}
