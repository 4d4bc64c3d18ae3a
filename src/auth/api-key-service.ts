import type { Kysely } from 'kysely';
import type { Actor, ApiKeyScope } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import { expandScopes, requireSession } from '../access/scopes.ts';
import type { DB } from '../migrations/db-schema.ts';
import { notFound, validationError } from '../platform/app-error.ts';
import { isUuid, uuidv7 } from '../platform/ids.ts';
import {
  type ApiKeyRow,
  findApiKeyByHash,
  insertApiKey,
  listApiKeys,
  revokeApiKey,
  touchApiKey,
} from './api-key-store.ts';
import type { CreateApiKeyInput } from './auth-schema.ts';
import { API_KEY_PATTERN, apiKeyDisplayPrefix, hashToken, newApiKey } from './auth-tokens.ts';
import type { UserRow } from './user-store.ts';

export interface ApiKeyService {
  /** Returns the key once; only its hash is kept. */
  create(actor: Actor, input: CreateApiKeyInput): Promise<{ apiKey: ApiKeyRow; key: string }>;
  list(actor: Actor): Promise<ApiKeyRow[]>;
  revoke(actor: Actor, keyId: string): Promise<void>;
  /** The actor a bearer key stands for, if the key is live and its owner enabled. */
  authenticate(key: string): Promise<{ actor: Actor; user: UserRow } | undefined>;
}

const TOUCH_GRANULARITY_MS = 60_000;
const MAX_LIFETIME_MS = 5 * 365 * 86_400_000;

/**
 * An API key acts as its owner within its scopes: project roles still apply, and instance
 * administration needs the admin scope as well as an admin owner.
 */
export function apiKeyActor(user: UserRow, key: ApiKeyRow): Actor {
  const scopes = expandScopes(key.scopes as ApiKeyScope[]);
  return {
    userId: user.id,
    isAdmin: user.is_admin && scopes.includes('admin'),
    via: 'api-key',
    scopes,
    credentialId: key.id,
  };
}

export function createApiKeyService(deps: {
  db: Kysely<DB>;
  audit: AuditRecorder;
  now: () => Date;
}): ApiKeyService {
  const { db, audit, now } = deps;

  return {
    async create(actor, input) {
      requireSession(actor);
      const at = now();
      const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt);
      if (expiresAt && (expiresAt <= at || expiresAt.getTime() - at.getTime() > MAX_LIFETIME_MS)) {
        throw validationError('expiresAt must be in the future and within five years', [
          { path: 'body.expiresAt', message: 'must be in the future and within five years' },
        ]);
      }
      const key = newApiKey();
      const scopes = [...new Set(input.scopes)];
      const apiKey = await db.transaction().execute(async (trx) => {
        const row = await insertApiKey(trx, {
          id: uuidv7(),
          user_id: actor.userId,
          name: input.name,
          prefix: apiKeyDisplayPrefix(key),
          key_hash: hashToken(key),
          scopes,
          expires_at: expiresAt,
          now: at,
        });
        await audit.record(trx, {
          actor,
          action: 'api-key.create',
          entityType: 'api-key',
          entityId: row.id,
          summary: { name: row.name, scopes, expiresAt: expiresAt?.toISOString() ?? null },
        });
        return row;
      });
      return { apiKey, key };
    },

    async list(actor) {
      requireSession(actor);
      return listApiKeys(db, actor.userId);
    },

    async revoke(actor, keyId) {
      requireSession(actor);
      if (!isUuid(keyId)) throw notFound('API key', keyId);
      await db.transaction().execute(async (trx) => {
        const revoked = await revokeApiKey(trx, actor.userId, keyId, now());
        if (!revoked) throw notFound('API key', keyId);
        await audit.record(trx, {
          actor,
          action: 'api-key.revoke',
          entityType: 'api-key',
          entityId: keyId,
          summary: { name: revoked.name },
        });
      });
    },

    async authenticate(key) {
      if (!API_KEY_PATTERN.test(key)) return undefined;
      const found = await findApiKeyByHash(db, hashToken(key));
      if (!found) return undefined;
      const at = now();
      const { key: row, user } = found;
      if (row.revoked_at !== null || user.disabled_at !== null) return undefined;
      if (row.expires_at !== null && new Date(row.expires_at) <= at) return undefined;
      await touchApiKey(db, row.id, at, TOUCH_GRANULARITY_MS);
      return { actor: apiKeyActor(user, row), user };
    },
  };
}
