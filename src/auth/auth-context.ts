import type { Kysely, Transaction } from 'kysely';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { DB } from '../migrations/db-schema.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import type { Mailer } from '../platform/mailer.ts';
import { type AuthTokenKind, insertAuthToken } from './auth-token-store.ts';
import { hashToken, newSessionToken } from './auth-tokens.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { MfaService } from './mfa-service.ts';
import type { PasswordHasher } from './password-hash.ts';
import type { SessionService } from './session-service.ts';

/** What the sign-in, setup and password use cases need; named once, passed to each. */
export interface AuthDeps {
  db: Kysely<DB>;
  audit: AuditRecorder;
  sessions: SessionService;
  throttle: LoginThrottle;
  mfa: MfaService;
  passwords: PasswordHasher;
  mailer: Mailer | undefined;
  logger: Logger;
  /** Base URL for links in mail and CLI output. */
  publicUrl: string;
  now: () => Date;
}

export const RESET_TOKEN_TTL_MS = 60 * 60_000;
export const MFA_CHALLENGE_TTL_MS = 5 * 60_000;
export const SETUP_TOKEN_TTL_MS = 24 * 60 * 60_000;

/**
 * Stores a new one-time token of `kind` (only its hash) and returns the token itself, which
 * goes to the user once and is never kept.
 */
export async function issueAuthToken(
  db: Kysely<DB> | Transaction<DB>,
  token: { kind: AuthTokenKind; userId: string | null; ttlMs: number; now: Date },
): Promise<{ token: string; expiresAt: Date }> {
  const value = newSessionToken();
  const expiresAt = new Date(token.now.getTime() + token.ttlMs);
  await insertAuthToken(db, {
    id: uuidv7(),
    kind: token.kind,
    user_id: token.userId,
    token_hash: hashToken(value),
    expires_at: expiresAt,
    now: token.now,
  });
  return { token: value, expiresAt };
}
