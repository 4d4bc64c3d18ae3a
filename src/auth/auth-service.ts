import type { Kysely } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import { requireSession } from '../access/scopes.ts';
import type { DB } from '../migrations/db-schema.ts';
import {
  AppError,
  conflict,
  notFound,
  unauthenticated,
  validationError,
} from '../platform/app-error.ts';
import { isDatabaseError, SQLSTATE } from '../platform/db/db-errors.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import type { Mailer } from '../platform/mailer.ts';
import {
  addAuthTokenAttempt,
  deleteDeadAuthTokens,
  expireAuthTokens,
  findLiveAuthToken,
  insertAuthToken,
  markAuthTokenUsed,
} from './auth-token-store.ts';
import { hashToken, newSessionToken } from './auth-tokens.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { MfaService } from './mfa-service.ts';
import { decoyPasswordHash, hashPassword, needsRehash, verifyPassword } from './password-hash.ts';
import type { ClientInfo, SessionService, StartedSession } from './session-service.ts';
import { systemActor } from './system-actor.ts';
import { duplicateEmail } from './user-service.ts';
import {
  countUsers,
  findUserByEmail,
  findUserById,
  insertUser,
  lockInstanceSetup,
  type UserRow,
  updateUser,
} from './user-store.ts';

export type LoginResult =
  | ({ status: 'signed-in' } & StartedSession)
  | { status: 'mfa-required'; challengeToken: string };

export interface SetupInput {
  email: string;
  password: string;
  displayName: string;
  setupToken?: string | undefined;
}

export interface AuthService {
  setupNeeded(): Promise<boolean>;
  /**
   * A one-time token for creating the first admin from another machine, or undefined once
   * an account exists. The server logs it at start-up.
   */
  issueSetupToken(): Promise<string | undefined>;
  /** First run: creates the first admin and signs them in. */
  setup(input: SetupInput, client: ClientInfo & { loopback: boolean }): Promise<StartedSession>;
  login(input: { email: string; password: string }, client: ClientInfo): Promise<LoginResult>;
  completeMfaLogin(
    input: { challengeToken: string; code: string },
    client: ClientInfo,
  ): Promise<StartedSession>;
  /** Signs out everywhere else; the current session stays. */
  changePassword(
    actor: Actor,
    input: { currentPassword: string; newPassword: string },
  ): Promise<{ revokedSessions: number }>;
  /** Always succeeds (no account probing); mails a link when SMTP is configured. */
  requestPasswordReset(email: string): Promise<void>;
  /** For `braincells user reset-link`: a reset link for an existing account. */
  createResetLink(actor: Actor, email: string): Promise<{ link: string; expiresAt: Date }>;
  resetPassword(input: { token: string; newPassword: string }): Promise<void>;
}

export const RESET_TOKEN_TTL_MS = 60 * 60_000;
export const MFA_CHALLENGE_TTL_MS = 5 * 60_000;
export const SETUP_TOKEN_TTL_MS = 24 * 60 * 60_000;
const MFA_CHALLENGE_MAX_ATTEMPTS = 5;

const badCredentials = () => unauthenticated('E-mail or password is incorrect');

export function createAuthService(deps: {
  db: Kysely<DB>;
  audit: AuditRecorder;
  sessions: SessionService;
  throttle: LoginThrottle;
  mfa: MfaService;
  mailer: Mailer | undefined;
  logger: Logger;
  /** Base URL for links in mail and CLI output. */
  publicUrl: string;
  now: () => Date;
}): AuthService {
  const { db, audit, sessions, throttle, mfa, mailer, logger, publicUrl, now } = deps;

  async function signIn(user: UserRow, client: ClientInfo): Promise<StartedSession> {
    await throttle.recordSuccess(user.email);
    return db.transaction().execute((trx) => sessions.start(trx, user, client));
  }

  async function newResetToken(user: UserRow): Promise<{ token: string; expiresAt: Date }> {
    const token = newSessionToken();
    const at = now();
    const expiresAt = new Date(at.getTime() + RESET_TOKEN_TTL_MS);
    await db.transaction().execute(async (trx) => {
      // Housekeeping: tokens used or expired more than a day ago serve no one.
      await deleteDeadAuthTokens(trx, new Date(at.getTime() - 86_400_000));
      await expireAuthTokens(trx, 'password-reset', user.id, at);
      await insertAuthToken(trx, {
        id: uuidv7(),
        kind: 'password-reset',
        user_id: user.id,
        token_hash: hashToken(token),
        expires_at: expiresAt,
        now: at,
      });
      await audit.record(trx, {
        actor: undefined,
        action: 'password-reset.request',
        entityType: 'user',
        entityId: user.id,
      });
    });
    return { token, expiresAt };
  }

  // The token travels in the fragment, which browsers never send to a server or a log.
  const resetLink = (token: string) => `${publicUrl}/reset-password#token=${token}`;

  return {
    async setupNeeded() {
      return (await countUsers(db)) === 0;
    },

    async issueSetupToken() {
      if ((await countUsers(db)) > 0) return undefined;
      const token = newSessionToken();
      const at = now();
      await db.transaction().execute(async (trx) => {
        await expireAuthTokens(trx, 'setup', null, at);
        await insertAuthToken(trx, {
          id: uuidv7(),
          kind: 'setup',
          user_id: null,
          token_hash: hashToken(token),
          expires_at: new Date(at.getTime() + SETUP_TOKEN_TTL_MS),
          now: at,
        });
      });
      return token;
    },

    async setup(input, client) {
      if (!client.loopback && !input.setupToken) {
        throw new AppError(
          'FORBIDDEN',
          'First-run setup from another machine needs the setup token printed in the server log',
        );
      }
      const passwordHash = await hashPassword(input.password);
      try {
        return await db.transaction().execute(async (trx) => {
          await lockInstanceSetup(trx);
          if ((await countUsers(trx)) > 0) throw conflict('Setup is already done; sign in instead');
          const at = now();
          if (input.setupToken !== undefined) {
            const token = await findLiveAuthToken(trx, 'setup', hashToken(input.setupToken), at);
            if (!token) {
              throw validationError('The setup token is invalid or has expired', [
                { path: 'body.setupToken', message: 'is invalid or has expired' },
              ]);
            }
          }
          await expireAuthTokens(trx, 'setup', null, at);
          const user = await insertUser(trx, {
            id: uuidv7(),
            email: input.email,
            display_name: input.displayName,
            password_hash: passwordHash,
            is_admin: true,
            now: at,
          });
          await audit.record(trx, {
            actor: systemActor(),
            action: 'user.create',
            entityType: 'user',
            entityId: user.id,
            summary: { email: user.email, isAdmin: true, via: 'setup' },
          });
          return sessions.start(trx, user, client);
        });
      } catch (error) {
        if (isDatabaseError(error, SQLSTATE.uniqueViolation)) throw duplicateEmail();
        throw error;
      }
    },

    async login(input, client) {
      await throttle.beforeAttempt(input.email, client.ip);
      const user = await findUserByEmail(db, input.email);
      const matches = await verifyPassword(
        input.password,
        user?.password_hash ?? (await decoyPasswordHash()),
      );
      if (!user || !matches || user.disabled_at !== null) {
        await throttle.recordFailure(input.email, client.ip);
        await audit.record(db, {
          actor: undefined,
          action: 'session.sign-in-failed',
          entityType: 'user',
          entityId: user?.id,
          summary: {
            email: input.email,
            reason: !user
              ? 'unknown-account'
              : user.disabled_at !== null
                ? 'disabled'
                : 'wrong-password',
          },
        });
        throw badCredentials();
      }
      if (needsRehash(user.password_hash)) {
        await updateUser(db, user.id, { password_hash: await hashPassword(input.password) }, now());
      }
      if (user.mfa_enabled_at !== null) {
        const challengeToken = newSessionToken();
        const at = now();
        await insertAuthToken(db, {
          id: uuidv7(),
          kind: 'mfa-challenge',
          user_id: user.id,
          token_hash: hashToken(challengeToken),
          expires_at: new Date(at.getTime() + MFA_CHALLENGE_TTL_MS),
          now: at,
        });
        return { status: 'mfa-required', challengeToken };
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
        await audit.record(db, {
          actor: undefined,
          action: 'session.sign-in-failed',
          entityType: 'user',
          entityId: user.id,
          summary: { email: user.email, reason: 'wrong-mfa-code' },
        });
        throw unauthenticated('The code is not valid');
      }
      await markAuthTokenUsed(db, challenge.id, now());
      return signIn(user, client);
    },

    async changePassword(actor, input) {
      requireSession(actor);
      const user = await findUserById(db, actor.userId);
      if (!user) throw notFound('user', actor.userId);
      await throttle.beforeAttempt(user.email, undefined);
      if (!(await verifyPassword(input.currentPassword, user.password_hash))) {
        await throttle.recordFailure(user.email, undefined);
        throw validationError('The current password is incorrect', [
          { path: 'body.currentPassword', message: 'is incorrect' },
        ]);
      }
      const passwordHash = await hashPassword(input.newPassword);
      const at = now();
      return db.transaction().execute(async (trx) => {
        await updateUser(
          trx,
          user.id,
          { password_hash: passwordHash, password_changed_at: at },
          at,
        );
        const revokedSessions = await sessions.revokeOthers(trx, user.id, actor.credentialId);
        await expireAuthTokens(trx, 'password-reset', user.id, at);
        await audit.record(trx, {
          actor,
          action: 'user.password-change',
          entityType: 'user',
          entityId: user.id,
          summary: { revokedSessions },
        });
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
      const passwordHash = await hashPassword(input.newPassword);
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
        await updateUser(
          trx,
          user.id,
          { password_hash: passwordHash, password_changed_at: at },
          at,
        );
        const revokedSessions = await sessions.revokeOthers(trx, user.id, undefined);
        await audit.record(trx, {
          actor: undefined,
          action: 'user.password-reset',
          entityType: 'user',
          entityId: user.id,
          summary: { revokedSessions },
        });
        return user.email;
      });
      await throttle.recordSuccess(email);
    },
  };
}
