import { AppError, conflict, validationError } from '../platform/app-error.ts';
import { isDatabaseError, SQLSTATE } from '../platform/db/db-errors.ts';
import { uuidv7 } from '../platform/ids.ts';
import { type AuthDeps, issueAuthToken, SETUP_TOKEN_TTL_MS } from './auth-context.ts';
import type { AuthService } from './auth-service.ts';
import { expireAuthTokens, findLiveAuthToken } from './auth-token-store.ts';
import { hashToken } from './auth-tokens.ts';
import { systemActor } from './system-actor.ts';
import { duplicateEmail } from './user-service.ts';
import { countUsers, insertUser, lockInstanceSetup } from './user-store.ts';

/** First run: is setup needed, the setup token for another machine, the first admin. */
export function createSetupUseCases(
  deps: AuthDeps,
): Pick<AuthService, 'setupNeeded' | 'issueSetupToken' | 'setup'> {
  const { db, audit, sessions, passwords, now } = deps;
  return {
    async setupNeeded() {
      return (await countUsers(db)) === 0;
    },

    async issueSetupToken() {
      if ((await countUsers(db)) > 0) return undefined;
      const at = now();
      return db.transaction().execute(async (trx) => {
        await expireAuthTokens(trx, 'setup', null, at);
        const { token } = await issueAuthToken(trx, {
          kind: 'setup',
          userId: null,
          ttlMs: SETUP_TOKEN_TTL_MS,
          now: at,
        });
        return token;
      });
    },

    async setup(input, client) {
      if (!client.loopback && !input.setupToken) {
        throw new AppError(
          'FORBIDDEN',
          'First-run setup from another machine needs the setup token printed in the server log',
        );
      }
      const passwordHash = await passwords.hash(input.password);
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
  };
}
