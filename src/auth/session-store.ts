import type { Selectable } from 'kysely';
import type { UserSessionTable } from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';
import { selectMatching, stampFirst, touchAtMostEvery } from '../platform/db/store-helpers.ts';
import type { UserRow } from './user-store.ts';

export type SessionRow = Selectable<UserSessionTable>;

export async function insertSession(
  db: Executor,
  row: {
    id: string;
    user_id: string;
    token_hash: string;
    expires_at: Date;
    ip: string | null;
    user_agent: string | null;
    now: Date;
  },
): Promise<SessionRow> {
  const { now, ...values } = row;
  return db
    .insertInto('user_session')
    .values({ ...values, created_at: now, last_seen_at: now })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The session with this token hash and its user, whatever their state. */
export async function findSessionByTokenHash(
  db: Executor,
  tokenHash: string,
): Promise<{ session: SessionRow; user: UserRow } | undefined> {
  const row = await db
    .selectFrom('user_session')
    .innerJoin('app_user', 'app_user.id', 'user_session.user_id')
    .selectAll('app_user')
    .select([
      'user_session.id as session_id',
      'user_session.token_hash as session_token_hash',
      'user_session.created_at as session_created_at',
      'user_session.last_seen_at as session_last_seen_at',
      'user_session.expires_at as session_expires_at',
      'user_session.revoked_at as session_revoked_at',
      'user_session.ip as session_ip',
      'user_session.user_agent as session_user_agent',
    ])
    .where('user_session.token_hash', '=', tokenHash)
    .executeTakeFirst();
  if (!row) return undefined;
  const {
    session_id,
    session_token_hash,
    session_created_at,
    session_last_seen_at,
    session_expires_at,
    session_revoked_at,
    session_ip,
    session_user_agent,
    ...user
  } = row;
  return {
    session: {
      id: session_id,
      user_id: user.id,
      token_hash: session_token_hash,
      created_at: session_created_at,
      last_seen_at: session_last_seen_at,
      expires_at: session_expires_at,
      revoked_at: session_revoked_at,
      ip: session_ip,
      user_agent: session_user_agent,
    },
    user,
  };
}

/** Records activity, at most once per `granularityMs`, so reads do not each cost a write. */
export async function touchSession(
  db: Executor,
  sessionId: string,
  now: Date,
  granularityMs: number,
): Promise<void> {
  await touchAtMostEvery(db, 'user_session', 'last_seen_at', now, granularityMs, {
    id: sessionId,
  });
}

export async function listLiveSessions(
  db: Executor,
  userId: string,
  now: Date,
): Promise<SessionRow[]> {
  return selectMatching(db, 'user_session', { user_id: userId, revoked_at: null })
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .execute();
}

export async function revokeSession(
  db: Executor,
  userId: string,
  sessionId: string,
  now: Date,
): Promise<boolean> {
  return stampFirst(db, 'user_session', 'revoked_at', now, { id: sessionId, user_id: userId });
}

/** Revokes every live session of a user except `keepSessionId`; returns how many. */
export async function revokeOtherSessions(
  db: Executor,
  userId: string,
  keepSessionId: string | undefined,
  now: Date,
): Promise<number> {
  let query = db
    .updateTable('user_session')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null);
  if (keepSessionId !== undefined) query = query.where('id', '!=', keepSessionId);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Drops sessions that can no longer be used (expired or revoked a while ago). */
export async function deleteDeadSessions(
  db: Executor,
  userId: string,
  before: Date,
): Promise<void> {
  await db
    .deleteFrom('user_session')
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('expires_at', '<', before), eb('revoked_at', '<', before)]))
    .execute();
}
