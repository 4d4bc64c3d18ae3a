import type { Kysely, Transaction } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import { requireSession } from '../access/scopes.ts';
import type { DB } from '../migrations/db-schema.ts';
import { conflict, notFound, validationError } from '../platform/app-error.ts';
import { type SecretBox, secretContext } from '../platform/crypto.ts';
import { uuidv7 } from '../platform/ids.ts';
import { hashToken, newRecoveryCode, normalizeRecoveryCode } from './auth-tokens.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { advanceTotpStep, consumeRecoveryCode, replaceRecoveryCodes } from './mfa-store.ts';
import type { PasswordHasher } from './password-hash.ts';
import { base32Decode, base32Encode, generateTotpSecret, matchTotp, otpauthUri } from './totp.ts';
import { findUserById, type UserRow, updateUser } from './user-store.ts';

export interface MfaService {
  /** Starts enrolment: a new secret, not active until `enable` sees a code from it. */
  beginSetup(actor: Actor): Promise<{ secret: string; otpauthUri: string }>;
  /** Activates MFA and returns recovery codes (shown once). */
  enable(actor: Actor, code: string): Promise<string[]>;
  disable(actor: Actor, input: { password: string; code: string }): Promise<void>;
  regenerateRecoveryCodes(actor: Actor, code: string): Promise<string[]>;
  /** A sign-in's second factor: an unused TOTP step or an unused recovery code. */
  verify(user: UserRow, code: string): Promise<boolean>;
}

const RECOVERY_CODE_COUNT = 10;

const secretColumn = (userId: string) => secretContext('app_user', 'mfa_secret', userId);
const pendingColumn = (userId: string) => secretContext('app_user', 'mfa_pending_secret', userId);

export function createMfaService(deps: {
  db: Kysely<DB>;
  audit: AuditRecorder;
  box: SecretBox;
  throttle: LoginThrottle;
  passwords: PasswordHasher;
  now: () => Date;
}): MfaService {
  const { db, audit, box, throttle, passwords, now } = deps;

  /** Audits a change to an account's second factor (`mfa.*`). */
  const recordMfa = (
    executor: Kysely<DB> | Transaction<DB>,
    actor: Actor | undefined,
    action: string,
    userId: string,
  ) => audit.record(executor, { actor, action, entityType: 'user', entityId: userId });

  async function currentUser(actor: Actor): Promise<UserRow> {
    requireSession(actor);
    const user = await findUserById(db, actor.userId);
    if (!user) throw notFound('user', actor.userId);
    return user;
  }

  async function verify(user: UserRow, code: string): Promise<boolean> {
    const trimmed = code.trim();
    if (/^\d{6}$/.test(trimmed)) {
      if (user.mfa_secret === null) return false;
      const secret = base32Decode(box.decrypt(user.mfa_secret, secretColumn(user.id)));
      const step = matchTotp(secret, trimmed, now().getTime() / 1000);
      return step !== undefined && (await advanceTotpStep(db, user.id, step));
    }
    const recovery = normalizeRecoveryCode(trimmed);
    if (!recovery || user.mfa_enabled_at === null) return false;
    const used = await consumeRecoveryCode(db, user.id, hashToken(recovery), now());
    if (used) {
      await recordMfa(db, undefined, 'mfa.recovery-code-use', user.id);
    }
    return used;
  }

  async function requireCode(user: UserRow, code: string): Promise<void> {
    if (!(await verify(user, code))) {
      await throttle.recordFailure(user.email, undefined);
      throw validationError('The code is not valid', [
        { path: 'body.code', message: 'is not valid' },
      ]);
    }
  }

  function newRecoveryCodes() {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const rows = codes.map((code) => ({
      id: uuidv7(),
      code_hash: hashToken(normalizeRecoveryCode(code)!),
    }));
    return { codes, rows };
  }

  return {
    verify,

    async beginSetup(actor) {
      const user = await currentUser(actor);
      if (user.mfa_enabled_at !== null) throw conflict('Two-factor sign-in is already on');
      const secret = generateTotpSecret();
      const encoded = base32Encode(secret);
      await db.transaction().execute(async (trx) => {
        await updateUser(
          trx,
          user.id,
          { mfa_pending_secret: box.encrypt(encoded, pendingColumn(user.id)) },
          now(),
        );
        await recordMfa(trx, actor, 'mfa.setup-start', user.id);
      });
      return { secret: encoded, otpauthUri: otpauthUri(secret, user.email) };
    },

    async enable(actor, code) {
      const user = await currentUser(actor);
      if (user.mfa_enabled_at !== null) throw conflict('Two-factor sign-in is already on');
      if (user.mfa_pending_secret === null) throw conflict('Start two-factor setup first');
      const encoded = box.decrypt(user.mfa_pending_secret, pendingColumn(user.id));
      const step = matchTotp(base32Decode(encoded), code.trim(), now().getTime() / 1000);
      if (step === undefined) {
        throw validationError('The code is not valid', [
          { path: 'body.code', message: 'is not valid' },
        ]);
      }
      const { codes, rows } = newRecoveryCodes();
      const at = now();
      await db.transaction().execute(async (trx) => {
        await updateUser(
          trx,
          user.id,
          {
            mfa_secret: box.encrypt(encoded, secretColumn(user.id)),
            mfa_pending_secret: null,
            mfa_enabled_at: at,
            mfa_last_step: step,
          },
          at,
        );
        await replaceRecoveryCodes(trx, user.id, rows, at);
        await recordMfa(trx, actor, 'mfa.enable', user.id);
      });
      return codes;
    },

    async disable(actor, input) {
      const user = await currentUser(actor);
      if (user.mfa_enabled_at === null) throw conflict('Two-factor sign-in is off');
      await throttle.beforeAttempt(user.email, undefined);
      if (!(await passwords.verify(input.password, user.password_hash))) {
        await throttle.recordFailure(user.email, undefined);
        throw validationError('The password is incorrect', [
          { path: 'body.password', message: 'is incorrect' },
        ]);
      }
      await requireCode(user, input.code);
      const at = now();
      await db.transaction().execute(async (trx) => {
        await updateUser(
          trx,
          user.id,
          { mfa_secret: null, mfa_pending_secret: null, mfa_enabled_at: null, mfa_last_step: null },
          at,
        );
        await replaceRecoveryCodes(trx, user.id, [], at);
        await recordMfa(trx, actor, 'mfa.disable', user.id);
      });
    },

    async regenerateRecoveryCodes(actor, code) {
      const user = await currentUser(actor);
      if (user.mfa_enabled_at === null) throw conflict('Two-factor sign-in is off');
      await throttle.beforeAttempt(user.email, undefined);
      await requireCode(user, code);
      const { codes, rows } = newRecoveryCodes();
      await db.transaction().execute(async (trx) => {
        await replaceRecoveryCodes(trx, user.id, rows, now());
        await recordMfa(trx, actor, 'mfa.recovery-codes-regenerate', user.id);
      });
      return codes;
    },
  };
}
