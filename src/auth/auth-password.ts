import type { Transaction } from 'kysely';
import type { Actor } from '../access/actor.ts';
import { requireSession } from '../access/scopes.ts';
import type { DB } from '../migrations/db-schema.ts';
import { conflict, notFound, validationError } from '../platform/app-error.ts';
import { type AuthDeps, issueAuthToken, RESET_TOKEN_TTL_MS } from './auth-context.ts';
import type { AuthService } from './auth-service.ts';
import {
  deleteDeadAuthTokens,
  expireAuthTokens,
  findLiveAuthToken,
  markAuthTokenUsed,
} from './auth-token-store.ts';
import { hashToken } from './auth-tokens.ts';
import { findUserByEmail, findUserById, type UserRow, updateUser } from './user-store.ts';

/** Changing a password, and resetting a forgotten one by mail or an admin's link. */
export function createPasswordUseCases(
  deps: AuthDeps,
): Pick<
  AuthService,
  'changePassword' | 'requestPasswordReset' | 'createResetLink' | 'resetPassword'
> {
  const { db, audit, sessions, throttle, passwords, mailer, logger, publicUrl, now } = deps;

  async function newResetToken(user: UserRow): Promise<{ token: string; expiresAt: Date }> {
    const at = now();
    return db.transaction().execute(async (trx) => {
      // Housekeeping: tokens used or expired more than a day ago serve no one.
      await deleteDeadAuthTokens(trx, new Date(at.getTime() - 86_400_000));
      await expireAuthTokens(trx, 'password-reset', user.id, at);
      const issued = await issueAuthToken(trx, {
        kind: 'password-reset',
        userId: user.id,
        ttlMs: RESET_TOKEN_TTL_MS,
        now: at,
      });
      await audit.record(trx, {
        actor: undefined,
        action: 'password-reset.request',
        entityType: 'user',
        entityId: user.id,
      });
      return issued;
    });
  }

  // The token travels in the fragment, which browsers never send to a server or a log.
  const resetLink = (token: string) => `${publicUrl}/reset-password#token=${token}`;

  /** Sets the new hash and signs the user out everywhere but `keepCredentialId`. */
  async function replacePassword(
    trx: Transaction<DB>,
    change: {
      user: UserRow;
      passwordHash: string;
      at: Date;
      keepCredentialId: string | undefined;
      actor: Actor | undefined;
      action: 'user.password-change' | 'user.password-reset';
    },
  ): Promise<number> {
    const { user, at } = change;
    await updateUser(
      trx,
      user.id,
      { password_hash: change.passwordHash, password_changed_at: at },
      at,
    );
    const revokedSessions = await sessions.revokeOthers(trx, user.id, change.keepCredentialId);
    await audit.record(trx, {
      actor: change.actor,
      action: change.action,
      entityType: 'user',
      entityId: user.id,
      summary: { revokedSessions },
    });
    return revokedSessions;
  }

  return {
    async changePassword(actor, input) {
      requireSession(actor);
      const user = await findUserById(db, actor.userId);
      if (!user) throw notFound('user', actor.userId);
      await throttle.beforeAttempt(user.email, undefined);
      if (!(await passwords.verify(input.currentPassword, user.password_hash))) {
        await throttle.recordFailure(user.email, undefined);
        throw validationError('The current password is incorrect', [
          { path: 'body.currentPassword', message: 'is incorrect' },
        ]);
      }
      const passwordHash = await passwords.hash(input.newPassword);
      const at = now();
      return db.transaction().execute(async (trx) => {
        const revokedSessions = await replacePassword(trx, {
          user,
          passwordHash,
          at,
          keepCredentialId: actor.credentialId,
          actor,
          action: 'user.password-change',
        });
        await expireAuthTokens(trx, 'password-reset', user.id, at);
        return { revokedSessions };
      });
    },

    async requestPasswordReset(email) {
      const user = await findUserByEmail(db, email);
      if (!user || user.disabled_at !== null) return;
      if (!mailer) {
        logger.info(
          { userId: user.id },
          'password reset requested but SMTP is not configured; an admin can run `braincells user reset-link`',
        );
        return;
      }
      const { token } = await newResetToken(user);
      // Not awaited: how long the mail server takes must not tell who has an account.
      mailer
        .send({
          to: user.email,
          subject: 'Reset your Brain Cells password',
          text: `Someone asked to reset the password of your Brain Cells account.\n\nTo choose a new password, open this link within an hour:\n${resetLink(token)}\n\nIf it was not you, ignore this message; your password stays as it is.\n`,
        })
        .catch((error: unknown) =>
          logger.error({ err: error, userId: user.id }, 'password reset mail failed'),
        );
    },

    async createResetLink(actor, email) {
      if (!actor.isAdmin) throw notFound('user');
      const user = await findUserByEmail(db, email);
      if (!user) throw notFound('user');
      if (user.disabled_at !== null) throw conflict('This account is disabled; enable it first');
      const { token, expiresAt } = await newResetToken(user);
      return { link: resetLink(token), expiresAt };
    },

    async resetPassword(input) {
      const passwordHash = await passwords.hash(input.newPassword);
      const invalid = () =>
        validationError('This reset link is invalid or has expired', [
          { path: 'body.token', message: 'is invalid or has expired' },
        ]);
      const email = await db.transaction().execute(async (trx) => {
        const at = now();
        const token = await findLiveAuthToken(trx, 'password-reset', hashToken(input.token), at);
        if (!token?.user_id) throw invalid();
        const user = await findUserById(trx, token.user_id);
        if (!user || user.disabled_at !== null) throw invalid();
        await markAuthTokenUsed(trx, token.id, at);
        await replacePassword(trx, {
          user,
          passwordHash,
          at,
          keepCredentialId: undefined,
          actor: undefined,
          action: 'user.password-reset',
        });
        return user.email;
      });
      await throttle.recordSuccess(email);
    },
  };
}
