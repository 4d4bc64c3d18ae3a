import type { Kysely, Transaction } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import { requireSession } from '../access/scopes.ts';
import type { DB } from '../migrations/db-schema.ts';
import { notFound } from '../platform/app-error.ts';
import { isUuid, uuidv7 } from '../platform/ids.ts';
import { csrfTokenFor, hashToken, newSessionToken, TOKEN_PATTERN } from './auth-tokens.ts';
import {
  deleteDeadSessions,
  findSessionByTokenHash,
  insertSession,
  listLiveSessions,
  revokeOtherSessions,
  revokeSession,
  type SessionRow,
  touchSession,
} from './session-store.ts';
import type { UserRow } from './user-store.ts';

export interface SessionSettings {
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
}

/** Where a request comes from, as sessions and the audit log record it. */
export interface ClientInfo {
  ip: string | undefined;
  userAgent: string | undefined;
}

export interface StartedSession {
  /** The secret for the cookie. Never logged, never stored. */
  token: string;
  csrfToken: string;
  session: SessionRow;
  user: UserRow;
}

export interface AuthenticatedSession {
  actor: Actor;
  user: UserRow;
  session: SessionRow;
}

export type SessionRejection = 'unknown' | 'revoked' | 'expired' | 'idle' | 'disabled';

export interface SessionService {
  /** Creates a session inside the caller's transaction (sign-in, setup, MFA step). */
  start(trx: Transaction<DB>, user: UserRow, client: ClientInfo): Promise<StartedSession>;
  /** The session a cookie token names, if it is still valid; records activity. */
  authenticate(
    token: string,
  ): Promise<{ ok: true; value: AuthenticatedSession } | { ok: false; reason: SessionRejection }>;
  list(actor: Actor): Promise<SessionRow[]>;
  revoke(actor: Actor, sessionId: string): Promise<void>;
  /** Signs out every other session of a user (inside the caller's transaction). */
  revokeOthers(
    trx: Transaction<DB>,
    userId: string,
    keepSessionId: string | undefined,
  ): Promise<number>;
}

// Activity is written at most once a minute per session; idle timeouts are minutes or more.
const TOUCH_GRANULARITY_MS = 60_000;
// Dead sessions are kept a day (for the owner's list and audits), then deleted at next sign-in.
const KEEP_DEAD_MS = 86_400_000;

export function sessionActor(user: UserRow, session: SessionRow): Actor {
  return {
    userId: user.id,
    isAdmin: user.is_admin,
    via: 'session',
    scopes: ['read', 'write', 'admin'],
    credentialId: session.id,
  };
}

export function createSessionService(deps: {
  db: Kysely<DB>;
  audit: AuditRecorder;
  settings: SessionSettings;
  now: () => Date;
}): SessionService {
  const { db, audit, settings, now } = deps;

  return {
    async start(trx, user, client) {
      const at = now();
      const token = newSessionToken();
      await deleteDeadSessions(trx, user.id, new Date(at.getTime() - KEEP_DEAD_MS));
      const session = await insertSession(trx, {
        id: uuidv7(),
        user_id: user.id,
        token_hash: hashToken(token),
        expires_at: new Date(at.getTime() + settings.absoluteTimeoutMs),
        ip: client.ip?.slice(0, 100) ?? null,
        user_agent: client.userAgent?.slice(0, 500) ?? null,
        now: at,
      });
      await audit.record(trx, {
        actor: sessionActor(user, session),
        action: 'session.create',
        entityType: 'session',
        entityId: session.id,
      });
      return { token, csrfToken: csrfTokenFor(token), session, user };
    },

    async authenticate(token) {
      if (!TOKEN_PATTERN.test(token)) return { ok: false, reason: 'unknown' };
      const found = await findSessionByTokenHash(db, hashToken(token));
      if (!found) return { ok: false, reason: 'unknown' };
      const { session, user } = found;
      const at = now().getTime();
      const created = new Date(session.created_at).getTime();
      // The stored expiry, or the configured limit if it has since been shortened.
      const absoluteEnd = Math.min(
        new Date(session.expires_at).getTime(),
        created + settings.absoluteTimeoutMs,
      );
      if (session.revoked_at !== null) return { ok: false, reason: 'revoked' };
      if (absoluteEnd <= at) return { ok: false, reason: 'expired' };
      if (new Date(session.last_seen_at).getTime() + settings.idleTimeoutMs <= at) {
        return { ok: false, reason: 'idle' };
      }
      if (user.disabled_at !== null) return { ok: false, reason: 'disabled' };
      await touchSession(db, session.id, new Date(at), TOUCH_GRANULARITY_MS);
      return { ok: true, value: { actor: sessionActor(user, session), user, session } };
    },

    async list(actor) {
      requireSession(actor);
      return listLiveSessions(db, actor.userId, now());
    },

    async revoke(actor, sessionId) {
      requireSession(actor);
      if (!isUuid(sessionId)) throw notFound('session', sessionId);
      await db.transaction().execute(async (trx) => {
        if (!(await revokeSession(trx, actor.userId, sessionId, now()))) {
          throw notFound('session', sessionId);
        }
        await audit.record(trx, {
          actor,
          action: sessionId === actor.credentialId ? 'session.sign-out' : 'session.revoke',
          entityType: 'session',
          entityId: sessionId,
        });
      });
    },

    async revokeOthers(trx, userId, keepSessionId) {
      return revokeOtherSessions(trx, userId, keepSessionId, now());
    },
  };
}
