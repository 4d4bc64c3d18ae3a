import { type Kysely, sql, type Transaction } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { stampFirst } from '../platform/db/store-helpers.ts';
import type { GatewayModel } from './gateway-schema.ts';

/** A gateway key as stored (never its secret: only the sha256 of it). */
export interface GatewayKey {
  id: string;
  projectId: string;
  name: string;
  prefix: string;
  models: GatewayModel[];
  requestsPerMinute: number | undefined;
  tokensPerMinute: number | undefined;
  cache: boolean;
  createdBy: string | undefined;
  createdAt: Date;
  revokedAt: Date | undefined;
  lastUsedAt: Date | undefined;
}

type KeyRow = {
  id: string;
  project_id: string;
  name: string;
  prefix: string;
  models: unknown;
  requests_per_minute: number | null;
  tokens_per_minute: number | null;
  cache: boolean;
  created_by: string | null;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
};

const COLUMNS = [
  'id',
  'project_id',
  'name',
  'prefix',
  'models',
  'requests_per_minute',
  'tokens_per_minute',
  'cache',
  'created_by',
  'created_at',
  'revoked_at',
  'last_used_at',
] as const;

function toKey(row: KeyRow): GatewayKey {
  return {
    id: row.id,
    projectId: row.project_id,
    name: row.name,
    prefix: row.prefix,
    models: row.models as GatewayModel[],
    requestsPerMinute: row.requests_per_minute ?? undefined,
    tokensPerMinute: row.tokens_per_minute ?? undefined,
    cache: row.cache,
    createdBy: row.created_by ?? undefined,
    createdAt: new Date(row.created_at),
    revokedAt: row.revoked_at ? new Date(row.revoked_at) : undefined,
    lastUsedAt: row.last_used_at ? new Date(row.last_used_at) : undefined,
  };
}

/** The answer of a rate-window reservation: held, or refused with what was in the window. */
export type WindowResult =
  | { ok: true }
  | { ok: false; limit: 'requests' | 'tokens'; requests: number; tokens: number };

export function createGatewayStore(db: Kysely<DB>) {
  const selectKeys = () => db.selectFrom('gateway_key').select(COLUMNS);
  return {
    async insert(
      trx: Transaction<DB>,
      values: {
        id: string;
        projectId: string;
        name: string;
        prefix: string;
        keyHash: string;
        models: GatewayModel[];
        requestsPerMinute: number | undefined;
        tokensPerMinute: number | undefined;
        cache: boolean;
        createdBy: string | undefined;
      },
    ): Promise<GatewayKey> {
      const row = await trx
        .insertInto('gateway_key')
        .values({
          id: values.id,
          project_id: values.projectId,
          name: values.name,
          prefix: values.prefix,
          key_hash: values.keyHash,
          models: JSON.stringify(values.models),
          requests_per_minute: values.requestsPerMinute ?? null,
          tokens_per_minute: values.tokensPerMinute ?? null,
          cache: values.cache,
          created_by: values.createdBy ?? null,
        })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
      return toKey(row);
    },

    async update(
      trx: Transaction<DB>,
      projectId: string,
      keyId: string,
      values: {
        name?: string;
        models?: GatewayModel[];
        requestsPerMinute?: number | null;
        tokensPerMinute?: number | null;
        cache?: boolean;
      },
    ): Promise<GatewayKey | undefined> {
      const row = await trx
        .updateTable('gateway_key')
        .set({
          ...(values.name === undefined ? {} : { name: values.name }),
          ...(values.models === undefined ? {} : { models: JSON.stringify(values.models) }),
          ...(values.requestsPerMinute === undefined
            ? {}
            : { requests_per_minute: values.requestsPerMinute }),
          ...(values.tokensPerMinute === undefined
            ? {}
            : { tokens_per_minute: values.tokensPerMinute }),
          ...(values.cache === undefined ? {} : { cache: values.cache }),
        })
        .where('project_id', '=', projectId)
        .where('id', '=', keyId)
        .where('revoked_at', 'is', null)
        .returning(COLUMNS)
        .executeTakeFirst();
      return row ? toKey(row) : undefined;
    },

    async revoke(
      trx: Transaction<DB>,
      projectId: string,
      keyId: string,
      at: Date,
    ): Promise<boolean> {
      return stampFirst(trx, 'gateway_key', 'revoked_at', at, { project_id: projectId, id: keyId });
    },

    async list(projectId: string): Promise<GatewayKey[]> {
      const rows = await selectKeys()
        .where('project_id', '=', projectId)
        .orderBy('created_at')
        .execute();
      return rows.map(toKey);
    },

    async find(projectId: string, keyId: string): Promise<GatewayKey | undefined> {
      const row = await selectKeys()
        .where('project_id', '=', projectId)
        .where('id', '=', keyId)
        .executeTakeFirst();
      return row ? toKey(row) : undefined;
    },

    /** A live key by the hash of its secret. */
    async findLiveByHash(keyHash: string): Promise<GatewayKey | undefined> {
      const row = await selectKeys()
        .where('key_hash', '=', keyHash)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return row ? toKey(row) : undefined;
    },

    async touch(keyId: string, at: Date): Promise<void> {
      await db
        .updateTable('gateway_key')
        .set({ last_used_at: at })
        .where('id', '=', keyId)
        .execute();
    },

    /**
     * Counts one request and `tokens` (an estimate) in the key's window, in one conditional
     * statement: it only takes effect when the window stays within both limits, so any number
     * of concurrent callers on any number of servers never pass them. A first request larger
     * than the token limit on its own is refused by the caller before it gets here.
     */
    async reserveWindow(input: {
      keyId: string;
      windowStart: Date;
      tokens: number;
      requestsPerMinute: number | undefined;
      tokensPerMinute: number | undefined;
    }): Promise<WindowResult> {
      const rpm = input.requestsPerMinute ?? null;
      const tpm = input.tokensPerMinute ?? null;
      const held = await sql<{ requests: number }>`
        insert into gateway_key_window as w (key_id, window_start, requests, tokens)
        values (${input.keyId}, ${input.windowStart}, 1, ${input.tokens})
        on conflict (key_id, window_start) do update
          set requests = w.requests + 1, tokens = w.tokens + excluded.tokens
          where (${rpm}::int is null or w.requests + 1 <= ${rpm}::int)
            and (${tpm}::bigint is null or w.tokens + excluded.tokens <= ${tpm}::bigint)
        returning w.requests
      `.execute(db);
      if (held.rows.length > 0) return { ok: true };
      const row = await db
        .selectFrom('gateway_key_window')
        .select(['requests', 'tokens'])
        .where('key_id', '=', input.keyId)
        .where('window_start', '=', input.windowStart)
        .executeTakeFirst();
      const requests = Number(row?.requests ?? 0);
      const tokens = Number(row?.tokens ?? 0);
      const limit = rpm !== null && requests + 1 > rpm ? 'requests' : 'tokens';
      return { ok: false, limit, requests, tokens };
    },

    /** Replaces a reservation's estimate by the tokens the call used. */
    async settleWindow(keyId: string, windowStart: Date, estimate: number, used: number) {
      if (estimate === used) return;
      await sql`
        update gateway_key_window
        set tokens = greatest(0, tokens - ${estimate}::bigint + ${used}::bigint)
        where key_id = ${keyId} and window_start = ${windowStart}
      `.execute(db);
    },

    /** Drops windows older than `before` (they only matter for the minute they cover). */
    async sweepWindows(before: Date): Promise<void> {
      await db.deleteFrom('gateway_key_window').where('window_start', '<', before).execute();
    },
  };
}

export type GatewayStore = ReturnType<typeof createGatewayStore>;
