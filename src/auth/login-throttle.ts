import type { Kysely } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { AppError } from '../platform/app-error.ts';
import { clearThrottle, findThrottles, recordThrottleFailure } from './login-throttle-store.ts';

export interface LoginThrottleSettings {
  /** Failures on one account before it is locked. */
  maxFailures: number;
  /** Failures from one IP address before it is locked. */
  ipMaxFailures: number;
  /** How long a lock lasts; also how long a failure is remembered. */
  lockoutMs: number;
  /** Base of the growing delay before answering after failures. */
  delayMs: number;
}

/**
 * Slows and then stops password guessing, per account and per IP address, in the database
 * so every server shares the count. Unknown e-mail addresses are counted like real ones, so
 * the answers do not reveal which accounts exist.
 */
export interface LoginThrottle {
  /** Throws RATE_LIMITED while the account or IP is locked; otherwise waits out the delay. */
  beforeAttempt(email: string, ip: string | undefined): Promise<void>;
  recordFailure(email: string, ip: string | undefined): Promise<void>;
  /** A completed sign-in forgets the account's failures (not the IP's). */
  recordSuccess(email: string): Promise<void>;
}

/** The delay after `failures` recent failures: 0, then base, 2×base, 4×base … up to 16×base. */
export function loginDelayMs(failures: number, baseMs: number): number {
  if (failures <= 0 || baseMs <= 0) return 0;
  return baseMs * 2 ** Math.min(failures - 1, 4);
}

export const accountKey = (email: string) => `account:${email.trim().toLowerCase()}`;
export const ipKey = (ip: string) => `ip:${ip}`;

export function createLoginThrottle(deps: {
  db: Kysely<DB>;
  settings: LoginThrottleSettings;
  now: () => Date;
  sleep?: (ms: number) => Promise<void>;
}): LoginThrottle {
  const { db, settings, now } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const keysFor = (email: string, ip: string | undefined) =>
    ip ? [accountKey(email), ipKey(ip)] : [accountKey(email)];

  return {
    async beforeAttempt(email, ip) {
      const rows = await findThrottles(db, keysFor(email, ip));
      const at = now();
      const lockedUntil = Math.max(
        0,
        ...rows.map((row) => (row.locked_until ? new Date(row.locked_until).getTime() : 0)),
      );
      if (lockedUntil > at.getTime()) {
        const retryAfterSeconds = Math.ceil((lockedUntil - at.getTime()) / 1000);
        throw new AppError('RATE_LIMITED', 'Too many failed sign-in attempts; try again later', {
          headers: { 'retry-after': String(retryAfterSeconds) },
          details: { retryAfterSeconds },
        });
      }
      const windowStart = at.getTime() - settings.lockoutMs;
      const recent = Math.max(
        0,
        ...rows
          .filter((row) => new Date(row.last_failure_at).getTime() > windowStart)
          .map((row) => row.failures),
      );
      const delay = loginDelayMs(recent, settings.delayMs);
      if (delay > 0) await sleep(delay);
    },

    async recordFailure(email, ip) {
      const at = now();
      await recordThrottleFailure(
        db,
        accountKey(email),
        at,
        settings.lockoutMs,
        settings.maxFailures,
        settings.lockoutMs,
      );
      if (ip) {
        await recordThrottleFailure(
          db,
          ipKey(ip),
          at,
          settings.lockoutMs,
          settings.ipMaxFailures,
          settings.lockoutMs,
        );
      }
    },

    async recordSuccess(email) {
      await clearThrottle(db, accountKey(email));
    },
  };
}
