import { unauthenticated } from '../platform/app-error.ts';
import { type AuthDeps, issueAuthToken, MFA_CHALLENGE_TTL_MS } from './auth-context.ts';
import type { AuthService } from './auth-service.ts';
import { addAuthTokenAttempt, findLiveAuthToken, markAuthTokenUsed } from './auth-token-store.ts';
import { hashToken } from './auth-tokens.ts';
import type { ClientInfo, StartedSession } from './session-service.ts';
import { findUserByEmail, findUserById, type UserRow, updateUser } from './user-store.ts';

const MFA_CHALLENGE_MAX_ATTEMPTS = 5;

const badCredentials = () => unauthenticated('E-mail or password is incorrect');

/** Sign-in with a password, then (when the account has MFA) with a code. */
export function createSignInUseCases(
  deps: AuthDeps,
): Pick<AuthService, 'login' | 'completeMfaLogin'> {
  const { db, audit, sessions, throttle, mfa, passwords, now } = deps;

  async function signIn(user: UserRow, client: ClientInfo): Promise<StartedSession> {
    await throttle.recordSuccess(user.email);
    return db.transaction().execute((trx) => sessions.start(trx, user, client));
  }

  const recordFailure = (
    email: string,
    userId: string | undefined,
    reason: 'unknown-account' | 'disabled' | 'wrong-password' | 'wrong-mfa-code',
  ) =>
    audit.record(db, {
      actor: undefined,
      action: 'session.sign-in-failed',
      entityType: 'user',
      entityId: userId,
      summary: { email, reason },
    });

  return {
    async login(input, client) {
      await throttle.beforeAttempt(input.email, client.ip);
      const user = await findUserByEmail(db, input.email);
      const matches = await passwords.verify(input.password, user?.password_hash);
      if (!user || !matches || user.disabled_at !== null) {
        await throttle.recordFailure(input.email, client.ip);
        await recordFailure(
          input.email,
          user?.id,
          !user ? 'unknown-account' : user.disabled_at !== null ? 'disabled' : 'wrong-password',
        );
        throw badCredentials();
      }
      if (passwords.needsRehash(user.password_hash)) {
        await updateUser(
          db,
          user.id,
          { password_hash: await passwords.hash(input.password) },
          now(),
        );
      }
      if (user.mfa_enabled_at !== null) {
        const { token } = await issueAuthToken(db, {
          kind: 'mfa-challenge',
          userId: user.id,
          ttlMs: MFA_CHALLENGE_TTL_MS,
          now: now(),
        });
        return { status: 'mfa-required', challengeToken: token };
      }
      return { status: 'signed-in', ...(await signIn(user, client)) };
    },

    async completeMfaLogin(input, client) {
      const expired = () => unauthenticated('This sign-in has expired; start again');
      const challenge = await db
        .transaction()
        .execute((trx) =>
          findLiveAuthToken(trx, 'mfa-challenge', hashToken(input.challengeToken), now()),
        );
      if (!challenge?.user_id) throw expired();
      const user = await findUserById(db, challenge.user_id);
      if (!user || user.disabled_at !== null || user.mfa_enabled_at === null) throw expired();
      await throttle.beforeAttempt(user.email, client.ip);
      if (!(await mfa.verify(user, input.code))) {
        await throttle.recordFailure(user.email, client.ip);
        const attempts = await addAuthTokenAttempt(db, challenge.id);
        if (attempts >= MFA_CHALLENGE_MAX_ATTEMPTS)
          await markAuthTokenUsed(db, challenge.id, now());
        await recordFailure(user.email, user.id, 'wrong-mfa-code');
        throw unauthenticated('The code is not valid');
      }
      await markAuthTokenUsed(db, challenge.id, now());
      return signIn(user, client);
    },
  };
}
