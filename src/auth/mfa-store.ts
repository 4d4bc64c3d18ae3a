import type { Transaction } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';
import { stampFirst } from '../platform/db/store-helpers.ts';

export async function replaceRecoveryCodes(
  db: Transaction<DB>,
  userId: string,
  codes: { id: string; code_hash: string }[],
  now: Date,
): Promise<void> {
  await db.deleteFrom('mfa_recovery_code').where('user_id', '=', userId).execute();
  if (codes.length === 0) return;
  await db
    .insertInto('mfa_recovery_code')
    .values(codes.map((code) => ({ ...code, user_id: userId, created_at: now })))
    .execute();
}

/** Marks an unused code as used; false if there is no such unused code. */
export async function consumeRecoveryCode(
  db: Executor,
  userId: string,
  codeHash: string,
  now: Date,
): Promise<boolean> {
  return stampFirst(db, 'mfa_recovery_code', 'used_at', now, {
    user_id: userId,
    code_hash: codeHash,
  });
}

export async function countUnusedRecoveryCodes(db: Executor, userId: string): Promise<number> {
  const row = await db
    .selectFrom('mfa_recovery_code')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Accepts a TOTP time step only if it is later than the last one used (no replay). */
export async function advanceTotpStep(
  db: Executor,
  userId: string,
  step: number,
): Promise<boolean> {
  const result = await db
    .updateTable('app_user')
    .set({ mfa_last_step: step })
    .where('id', '=', userId)
    .where((eb) => eb.or([eb('mfa_last_step', 'is', null), eb('mfa_last_step', '<', step)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
