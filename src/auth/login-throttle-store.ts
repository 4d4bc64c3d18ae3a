import type { Kysely, Selectable } from 'kysely';
import type { DB, LoginThrottleTable } from '../migrations/db-schema.ts';

export type ThrottleRow = Selectable<LoginThrottleTable>;

export async function findThrottles(db: Kysely<DB>, keys: string[]): Promise<ThrottleRow[]> {
  return db.selectFrom('login_throttle').selectAll().where('key', 'in', keys).execute();
}

/**
 * Counts one failure in a single statement (safe under concurrency): failures older than
 * the window are forgotten first; reaching `max` locks the key until `now + lockMs` and
 * starts counting afresh.
 */
export async function recordThrottleFailure(
  db: Kysely<DB>,
  key: string,
  now: Date,
  windowMs: number,
  max: number,
  lockMs: number,
): Promise<ThrottleRow> {
  const windowStart = new Date(now.getTime() - windowMs);
  const lockedUntil = new Date(now.getTime() + lockMs);
  return db
    .insertInto('login_throttle')
    .values({
      key,
      failures: max <= 1 ? 0 : 1,
      last_failure_at: now,
      locked_until: max <= 1 ? lockedUntil : null,
    })
    .onConflict((conflict) =>
      conflict.column('key').doUpdateSet((eb) => {
        const previous = eb
          .case()
          .when('login_throttle.last_failure_at', '<', windowStart)
          .then(0)
          .else(eb.ref('login_throttle.failures'))
          .end();
        const reached = eb(eb(previous, '+', 1), '>=', max);
        return {
          failures: eb
            .case()
            .when(reached)
            .then(0)
            .else(eb(previous, '+', 1))
            .end(),
          last_failure_at: now,
          locked_until: eb
            .case()
            .when(reached)
            .then(lockedUntil)
            .else(eb.ref('login_throttle.locked_until'))
            .end(),
        };
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function clearThrottle(db: Kysely<DB>, key: string): Promise<void> {
  await db.deleteFrom('login_throttle').where('key', '=', key).execute();
}
