import type { Selectable } from 'kysely';
import type { ApiKeyTable } from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';
import {
  selectMatching,
  touchAtMostEvery,
  updateMatchingRow,
} from '../platform/db/store-helpers.ts';
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
  const key = await selectMatching(db, 'api_key', { key_hash: keyHash }).executeTakeFirst();
  if (!key) return undefined;
  const user = await selectMatching(db, 'app_user', { id: key.user_id }).executeTakeFirst();
  return user ? { key, user } : undefined;
}

export async function listApiKeys(db: Executor, userId: string): Promise<ApiKeyRow[]> {
  return selectMatching(db, 'api_key', { user_id: userId, revoked_at: null })
    .orderBy('created_at', 'desc')
    .execute();
}

export async function revokeApiKey(
  db: Executor,
  userId: string,
  keyId: string,
  now: Date,
): Promise<ApiKeyRow | undefined> {
  return updateMatchingRow(
    db,
    'api_key',
    { revoked_at: now },
    { id: keyId, user_id: userId, revoked_at: null },
  );
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
