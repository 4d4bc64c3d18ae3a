import type { Kysely } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import { requireAdmin, requireScope } from '../access/scopes.ts';
import type { DB } from '../migrations/db-schema.ts';
import { conflict, notFound } from '../platform/app-error.ts';
import { isDatabaseError, SQLSTATE } from '../platform/db/db-errors.ts';
import { isUuid, uuidv7 } from '../platform/ids.ts';
import type { CreateUserInput, UpdateUserInput } from './auth-schema.ts';
import type { PasswordHasher } from './password-hash.ts';
import type { SessionService } from './session-service.ts';
import {
  findUserById,
  insertUser,
  listUsers,
  lockOtherEnabledAdmins,
  type UserRow,
  updateUser,
} from './user-store.ts';

export interface UserService {
  /** Instance admins (and the CLI's system actor) create accounts. */
  create(actor: Actor, input: CreateUserInput): Promise<UserRow>;
  list(actor: Actor, page: { limit: number; after?: string | undefined }): Promise<UserRow[]>;
  get(actor: Actor, userId: string): Promise<UserRow>;
  update(actor: Actor, userId: string, input: UpdateUserInput): Promise<UserRow>;
  getSelf(actor: Actor): Promise<UserRow>;
  updateSelf(actor: Actor, input: { displayName: string }): Promise<UserRow>;
}

export const duplicateEmail = () => conflict('An account with this e-mail address already exists');

export function createUserService(deps: {
  db: Kysely<DB>;
  audit: AuditRecorder;
  sessions: SessionService;
  passwords: PasswordHasher;
  now: () => Date;
}): UserService {
  const { db, audit, sessions, passwords, now } = deps;

  async function load(userId: string): Promise<UserRow> {
    const user = isUuid(userId) ? await findUserById(db, userId) : undefined;
    if (!user) throw notFound('user', userId);
    return user;
  }

  return {
    async create(actor, input) {
      requireAdmin(actor);
      const passwordHash = await passwords.hash(input.password);
      try {
        return await db.transaction().execute(async (trx) => {
          const user = await insertUser(trx, {
            id: uuidv7(),
            email: input.email,
            display_name: input.displayName,
            password_hash: passwordHash,
            is_admin: input.isAdmin,
            now: now(),
          });
          await audit.record(trx, {
            actor,
            action: 'user.create',
            entityType: 'user',
            entityId: user.id,
            summary: { email: user.email, isAdmin: user.is_admin },
          });
          return user;
        });
      } catch (error) {
        if (isDatabaseError(error, SQLSTATE.uniqueViolation)) throw duplicateEmail();
        throw error;
      }
    },

    async list(actor, page) {
      requireAdmin(actor);
      return listUsers(db, page);
    },

    async get(actor, userId) {
      requireAdmin(actor);
      return load(userId);
    },

    async update(actor, userId, input) {
      requireAdmin(actor);
      const user = await load(userId);
      const losesAdmin =
        user.is_admin &&
        (input.isAdmin === false || (input.disabled === true && user.disabled_at === null));
      const at = now();
      return db.transaction().execute(async (trx) => {
        if (losesAdmin) {
          if ((await lockOtherEnabledAdmins(trx, user.id)) === 0) {
            throw conflict('The instance keeps at least one enabled administrator');
          }
        }
        const disabledAt =
          input.disabled === undefined
            ? undefined
            : input.disabled
              ? (user.disabled_at ?? at)
              : null;
        const updated = await updateUser(
          trx,
          user.id,
          {
            ...(input.displayName === undefined ? {} : { display_name: input.displayName }),
            ...(input.isAdmin === undefined ? {} : { is_admin: input.isAdmin }),
            ...(disabledAt === undefined ? {} : { disabled_at: disabledAt }),
          },
          at,
        );
        if (input.disabled === true) await sessions.revokeOthers(trx, user.id, undefined);
        await audit.record(trx, {
          actor,
          action: 'user.update',
          entityType: 'user',
          entityId: user.id,
          summary: { changes: input },
        });
        return updated!;
      });
    },

    async getSelf(actor) {
      requireScope(actor, 'read');
      return load(actor.userId);
    },

    async updateSelf(actor, input) {
      requireScope(actor, 'write');
      await load(actor.userId);
      return db.transaction().execute(async (trx) => {
        const updated = await updateUser(
          trx,
          actor.userId,
          { display_name: input.displayName },
          now(),
        );
        await audit.record(trx, {
          actor,
          action: 'user.update-profile',
          entityType: 'user',
          entityId: actor.userId,
          summary: { displayName: input.displayName },
        });
        return updated!;
      });
    },
  };
}
