import type { Selectable, Transaction } from 'kysely';
import type { AuthTokenTable, DB } from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';
import { selectMatching, stampOnce } from '../platform/db/store-helpers.ts';

export type AuthTokenRow = Selectable<AuthTokenTable>;
export type AuthTokenKind = AuthTokenTable['kind'];

export async function insertAuthToken(
  db: Executor,
  row: {
    id: string;
    kind: AuthTokenKind;
    user_id: string | null;
    token_hash: string;
    expires_at: Date;
    now: Date;
  },
): Promise<void> {
  const { now, ...values } = row;
  await db
    .insertInto('auth_token')
    .values({ ...values, created_at: now })
    .execute();
}

/** An unused, unexpired token of this kind, locked for the rest of the transaction. */
export async function findLiveAuthToken(
  db: Transaction<DB>,
  kind: AuthTokenKind,
  tokenHash: string,
  now: Date,
): Promise<AuthTokenRow | undefined> {
  return selectMatching(db, 'auth_token', { kind, token_hash: tokenHash, used_at: null })
    .where('expires_at', '>', now)
    .forUpdate()
    .executeTakeFirst();
}

export async function markAuthTokenUsed(db: Executor, id: string, now: Date): Promise<void> {
  await db.updateTable('auth_token').set({ used_at: now }).where('id', '=', id).execute();
}

/** Counts a wrong answer against a token; returns the new count. */
export async function addAuthTokenAttempt(db: Executor, id: string): Promise<number> {
  const row = await db
    .updateTable('auth_token')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id', '=', id)
    .returning('attempts')
    .executeTakeFirstOrThrow();
  return row.attempts;
}

/** Ends every live token of a kind (for a user, or the user-less setup tokens). */
export async function expireAuthTokens(
  db: Executor,
  kind: AuthTokenKind,
  userId: string | null,
  now: Date,
): Promise<void> {
  await stampOnce(db, 'auth_token', 'used_at', now, { kind, user_id: userId });
}

export async function deleteDeadAuthTokens(db: Executor, before: Date): Promise<void> {
  await db
    .deleteFrom('auth_token')
    .where((eb) => eb.or([eb('expires_at', '<', before), eb('used_at', '<', before)]))
    .execute();
}
