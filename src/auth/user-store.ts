import type { Selectable, Transaction, Updateable } from 'kysely';
import type { AppUserTable, DB } from '../migrations/db-schema.ts';
import type { Executor } from '../platform/db/database.ts';
import { selectMatching, updateMatchingRow } from '../platform/db/store-helpers.ts';

export type UserRow = Selectable<AppUserTable>;

export async function countUsers(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('app_user')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function findUserById(db: Executor, id: string): Promise<UserRow | undefined> {
  return selectMatching(db, 'app_user', { id }).executeTakeFirst();
}

export async function findUserByEmail(db: Executor, email: string): Promise<UserRow | undefined> {
  return selectMatching(db, 'app_user', { email: email.toLowerCase() }).executeTakeFirst();
}

export async function insertUser(
  db: Executor,
  row: {
    id: string;
    email: string;
    display_name: string;
    password_hash: string;
    is_admin: boolean;
    now: Date;
  },
): Promise<UserRow> {
  const { now, ...values } = row;
  return db
    .insertInto('app_user')
    .values({ ...values, password_changed_at: now, created_at: now, updated_at: now })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateUser(
  db: Executor,
  id: string,
  changes: Omit<Updateable<AppUserTable>, 'id'>,
  now: Date,
): Promise<UserRow | undefined> {
  return updateMatchingRow(db, 'app_user', { ...changes, updated_at: now }, { id });
}

export async function listUsers(
  db: Executor,
  page: { limit: number; after?: string | undefined },
): Promise<UserRow[]> {
  let query = db.selectFrom('app_user').selectAll();
  if (page.after !== undefined) query = query.where('id', '>', page.after);
  return query.orderBy('id').limit(page.limit).execute();
}

/**
 * Locks the other enabled administrators' rows (until the transaction ends) and counts them:
 * a change that takes away `userId`'s admin rights checks that one stays.
 */
export async function lockOtherEnabledAdmins(db: Transaction<DB>, userId: string): Promise<number> {
  const others = await db
    .selectFrom('app_user')
    .select('id')
    .where('is_admin', '=', true)
    .where('disabled_at', 'is', null)
    .where('id', '!=', userId)
    .forUpdate()
    .execute();
  return others.length;
}

/** Locks the first-run marker row so two concurrent setups cannot both create an admin. */
export async function lockInstanceSetup(db: Transaction<DB>): Promise<void> {
  await db
    .selectFrom('instance_setting')
    .select('key')
    .where('key', '=', 'instance_id')
    .forUpdate()
    .execute();
}
