import type { Kysely } from 'kysely';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import type { LlmAdmin } from '../llm/llm-admin-service.ts';
import type { LlmService, LlmStreamEvent } from '../llm/llm-service.ts';
import { estimateInputTokens } from '../llm/llm-tokens.ts';
import type { DB } from '../migrations/db-schema.ts';
import { AppError, notFound, unauthenticated, validationError } from '../platform/app-error.ts';
import type { CacheInvalidation } from '../platform/cache-invalidation.ts';
import { randomToken, sha256Hex } from '../platform/crypto.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import { pickDefined } from '../platform/pick-defined.ts';
import type { GatewayCallInput } from './gateway-call.ts';
import { issuesError } from './gateway-call.ts';
import { presentGatewayKey } from './gateway-presenter.ts';
import {
  type GatewayModel,
  type GatewayModelInput,
  gatewayKeyCreateSchema,
  gatewayKeyUpdateSchema,
} from './gateway-schema.ts';
import type { GatewayKey, GatewayStore } from './gateway-store.ts';

/** `bcgw_` + 43 characters: the prefix tells people and secret scanners what it is. */
export const GATEWAY_KEY_PREFIX = 'bcgw_';
const GATEWAY_KEY_PATTERN = /^bcgw_[A-Za-z0-9_-]{43}$/;
/** The feature name of gateway calls in usage rows, metrics and spans. */
export const GATEWAY_FEATURE = 'gateway';
/** How long a looked-up key is trusted before it is read again (revocation elsewhere). */
const KEY_CACHE_MS = 5_000;
const TOUCH_EVERY_MS = 60_000;
const WINDOW_MS = 60_000;

export interface GatewayServiceDeps {
  db: Kysely<DB>;
  store: GatewayStore;
  llm: LlmService;
  admin: LlmAdmin;
  access: ProjectAccess;
  audit: AuditRecorder;
  logger: Logger;
  now: () => number;
  /** `maxOutputTokens` of a call that sets none (the router's default): its TPM estimate. */
  defaultMaxOutputTokens: number;
  /** Calls one key may have in flight on this server; more answer 429 (docs/gateway.md). */
  concurrencyPerKey: number;
  /** Other servers drop a key changed or revoked here from their caches (issue #20 item 6). */
  invalidation?: CacheInvalidation | undefined;
}

/**
 * Keys for outside apps and the calls they make. Key use cases check the project role on
 * their first line (owners manage, editors list); `authenticate` and `open` serve the /v1
 * routes, where the key is the only credential.
 */
export function createGatewayService(deps: GatewayServiceDeps) {
  const { db, store, llm, admin, access, audit, logger, now } = deps;
  // Live keys by hash, and (apart, so a flood of made-up keys cannot evict the live ones)
  // hashes that matched no live key.
  const byHash = new Map<string, { at: number; key: GatewayKey }>();
  const misses = new Map<string, number>();
  const touched = new Map<string, number>();
  const inFlight = new Map<string, number>();

  const forgetHere = (keyId: string) => {
    for (const [hash, entry] of byHash) if (entry.key.id === keyId) byHash.delete(hash);
  };
  const forget = deps.invalidation?.share('gateway-key', forgetHere) ?? forgetHere;

  /** Names every model entry; `<provider kind>/<model>` when none was given. */
  async function nameModels(
    actor: Actor,
    projectId: string,
    models: readonly GatewayModelInput[],
  ): Promise<GatewayModel[]> {
    const named: GatewayModel[] = [];
    for (const [index, entry] of models.entries()) {
      let name = entry.name;
      if (name === undefined) {
        if (entry.provider === undefined)
          throw validationError(`Invalid models.${index}.name: required without a provider`, [
            { path: `models.${index}.name`, message: 'required without a provider' },
          ]);
        const provider = await admin
          .getProvider(actor, projectId, entry.provider)
          .catch((error: unknown) => {
            if (error instanceof AppError && error.code === 'NOT_FOUND')
              throw validationError(`Invalid models.${index}.provider: no such provider`, [
                { path: `models.${index}.provider`, message: 'no such provider' },
              ]);
            throw error;
          });
        name = `${provider.kind}/${entry.model}`;
      }
      named.push({
        name,
        provider: entry.provider,
        model: entry.model,
        fallbacks: entry.fallbacks ?? [],
      });
    }
    if (new Set(named.map((entry) => entry.name)).size !== named.length)
      throw validationError('Invalid models: model names must be unique', [
        { path: 'models', message: 'model names must be unique' },
      ]);
    return named;
  }

  async function view(actor: Actor, key: GatewayKey) {
    const budgets = await admin.gatewayKeyBudgets(actor, key.projectId, key.id);
    return presentGatewayKey(key, budgets);
  }

  async function liveKey(projectId: string, keyId: string): Promise<GatewayKey> {
    const key = await store.find(projectId, keyId);
    if (!key || key.revokedAt) throw notFound('gateway key', keyId);
    return key;
  }

  /** Reserves the call in the key's rate window; throws RATE_LIMITED when it is full. */
  async function reserveWindow(key: GatewayKey, input: GatewayCallInput) {
    if (key.requestsPerMinute === undefined && key.tokensPerMinute === undefined) return undefined;
    const input_ = await estimateInputTokens(input.messages, input.outputSchema, {
      tools: input.tools,
    });
    const estimate = input_ + (input.parameters.maxOutputTokens ?? deps.defaultMaxOutputTokens);
    const at = now();
    const windowStart = new Date(at - (at % WINDOW_MS));
    const retryAfter = String(
      Math.max(1, Math.ceil((windowStart.getTime() + WINDOW_MS - at) / 1000)),
    );
    if (key.tokensPerMinute !== undefined && estimate > key.tokensPerMinute)
      throw new AppError(
        'RATE_LIMITED',
        `This request may use up to ${estimate} tokens (prompt estimate + max tokens), more than the key's ${key.tokensPerMinute} tokens per minute; lower max_tokens`,
        {
          retryable: false,
          details: { limit: 'tokens', estimate, tokensPerMinute: key.tokensPerMinute },
        },
      );
    const result = await store.reserveWindow({
      keyId: key.id,
      windowStart,
      tokens: estimate,
      requestsPerMinute: key.requestsPerMinute,
      tokensPerMinute: key.tokensPerMinute,
    });
    if (!result.ok) {
      const what =
        result.limit === 'requests'
          ? `${key.requestsPerMinute} requests per minute`
          : `${key.tokensPerMinute} tokens per minute`;
      throw new AppError('RATE_LIMITED', `This key's limit of ${what} is reached; retry later`, {
        retryable: true,
        details: { limit: result.limit, retryAfterMs: Number(retryAfter) * 1000 },
        headers: { 'retry-after': retryAfter },
      });
    }
    return { windowStart, estimate };
  }

  return {
    async createKey(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'owner');
      const parsed = gatewayKeyCreateSchema.safeParse(input);
      if (!parsed.success) throw issuesError(parsed.error.issues);
      const body = parsed.data;
      const models = await nameModels(actor, projectId, body.models);
      const secret = `${GATEWAY_KEY_PREFIX}${randomToken(32)}`;
      const key = await db.transaction().execute(async (trx) => {
        const created = await store.insert(trx, {
          id: uuidv7(now()),
          projectId,
          name: body.name,
          prefix: secret.slice(0, GATEWAY_KEY_PREFIX.length + 6),
          keyHash: sha256Hex(secret),
          models,
          requestsPerMinute: body.requestsPerMinute ?? undefined,
          tokensPerMinute: body.tokensPerMinute ?? undefined,
          cache: body.cache ?? false,
          // The system actor (CLI, jobs) is no user row: its keys have no creator.
          createdBy: actor.via === 'system' ? undefined : actor.userId,
        });
        await audit.record(trx, {
          actor,
          action: 'gateway-key.create',
          entityType: 'gateway-key',
          entityId: created.id,
          projectId,
          summary: {
            name: body.name,
            models: models.map((entry) => entry.name),
            requestsPerMinute: body.requestsPerMinute ?? null,
            tokensPerMinute: body.tokensPerMinute ?? null,
            budgets: body.budgets ?? [],
            cache: body.cache ?? false,
          },
        });
        return created;
      });
      if (body.budgets && body.budgets.length > 0) {
        try {
          await admin.setGatewayKeyBudgets(actor, projectId, key.id, body.budgets);
        } catch (error) {
          // Nothing half-made: a key never exists without the budgets it was created with.
          await db.deleteFrom('gateway_key').where('id', '=', key.id).execute();
          throw error;
        }
      }
      return { ...(await view(actor, key)), key: secret };
    },

    async listKeys(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'editor');
      const keys = await store.list(projectId);
      return Promise.all(keys.map((key) => view(actor, key)));
    },

    async updateKey(actor: Actor, projectId: string, keyId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'owner');
      const parsed = gatewayKeyUpdateSchema.safeParse(input);
      if (!parsed.success) throw issuesError(parsed.error.issues);
      const body = parsed.data;
      await liveKey(projectId, keyId);
      const models = body.models ? await nameModels(actor, projectId, body.models) : undefined;
      const key = await db.transaction().execute(async (trx) => {
        const updated = await store.update(trx, projectId, keyId, {
          ...pickDefined(body, ['name', 'requestsPerMinute', 'tokensPerMinute', 'cache']),
          ...(models === undefined ? {} : { models }),
        });
        if (!updated) throw notFound('gateway key', keyId);
        await audit.record(trx, {
          actor,
          action: 'gateway-key.update',
          entityType: 'gateway-key',
          entityId: keyId,
          projectId,
          summary: { ...body, ...(models ? { models: models.map((entry) => entry.name) } : {}) },
        });
        return updated;
      });
      if (body.budgets !== undefined)
        await admin.setGatewayKeyBudgets(actor, projectId, keyId, body.budgets);
      forget(keyId);
      return view(actor, key);
    },

    async revokeKey(actor: Actor, projectId: string, keyId: string): Promise<void> {
      await access.requireRole(actor, projectId, 'owner');
      await db.transaction().execute(async (trx) => {
        if (!(await store.revoke(trx, projectId, keyId, new Date(now()))))
          throw notFound('gateway key', keyId);
        await audit.record(trx, {
          actor,
          action: 'gateway-key.revoke',
          entityType: 'gateway-key',
          entityId: keyId,
          projectId,
        });
      });
      forget(keyId);
    },

    /**
     * Whether a bearer token is a key this server has found live (however long ago; a
     * revoked one is found out by `authenticate` on its next call). No database read: the
     * per-address rate limit exempts such calls, which their key's limits bound instead,
     * while made-up keys still count against their address (docs/gateway.md).
     */
    isKnownKey(token: string | undefined): boolean {
      return token !== undefined && GATEWAY_KEY_PATTERN.test(token) && byHash.has(sha256Hex(token));
    },

    /** The live key a bearer token stands for; UNAUTHENTICATED otherwise. */
    async authenticate(token: string | undefined): Promise<GatewayKey> {
      if (token === undefined)
        throw unauthenticated('Send the gateway key as "Authorization: Bearer <key>" or x-api-key');
      if (!GATEWAY_KEY_PATTERN.test(token)) throw unauthenticated('Invalid gateway key');
      const hash = sha256Hex(token);
      const at = now();
      const live = byHash.get(hash);
      let key = live?.key;
      const readAt = live?.at ?? misses.get(hash);
      if (readAt === undefined || at - readAt > KEY_CACHE_MS) {
        key = await store.findLiveByHash(hash);
        if (key) {
          if (byHash.size > 10_000) byHash.clear();
          byHash.set(hash, { at, key });
          misses.delete(hash);
        } else {
          if (misses.size > 10_000) misses.clear();
          misses.set(hash, at);
          byHash.delete(hash);
        }
      }
      if (!key) throw unauthenticated('Invalid or revoked gateway key');
      if (at - (touched.get(key.id) ?? 0) > TOUCH_EVERY_MS) {
        touched.set(key.id, at);
        store.touch(key.id, new Date(at)).catch((error: unknown) => {
          logger.warn({ err: error }, 'gateway key last-used update failed');
        });
      }
      return key;
    },

    /**
     * One call for a key: the model must be on its list; its rate window is reserved first
     * and settled with the tokens used; then the call takes the LLM service's path (budgets
     * of the project, the key's creator and the key, retries, fallbacks, breakers, cache
     * when the key allows it, a usage row per attempt with feature `gateway` and the key id).
     */
    async *open(
      key: GatewayKey,
      input: GatewayCallInput,
      signal: AbortSignal,
    ): AsyncGenerator<LlmStreamEvent, void, undefined> {
      const entry = key.models.find((model) => model.name === input.model);
      if (!entry)
        throw new AppError(
          'NOT_FOUND',
          `The model \`${input.model}\` does not exist or this key may not use it`,
          { details: { reason: 'model', model: input.model } },
        );
      const running = inFlight.get(key.id) ?? 0;
      if (running >= deps.concurrencyPerKey)
        throw new AppError(
          'RATE_LIMITED',
          `This key already has ${running} calls in flight on this server, its limit; retry when one has ended`,
          {
            retryable: true,
            details: { limit: 'concurrency', concurrencyPerKey: deps.concurrencyPerKey },
            headers: { 'retry-after': '1' },
          },
        );
      inFlight.set(key.id, running + 1);
      let window: Awaited<ReturnType<typeof reserveWindow>>;
      let used: number | undefined;
      try {
        window = await reserveWindow(key, input);
        const stream = llm.stream({
          projectId: key.projectId,
          userId: key.createdBy,
          feature: GATEWAY_FEATURE,
          gatewayKeyId: key.id,
          provider: entry.provider,
          model: entry.model,
          // None listed on the key: the connection's own chain for the model applies.
          fallbacks: entry.fallbacks.length > 0 ? entry.fallbacks : undefined,
          messages: input.messages,
          parameters: input.parameters,
          outputSchema: input.outputSchema,
          tools: input.tools,
          toolChoice: input.toolChoice,
          cache: key.cache ? 'use' : 'off',
          // The answer goes out once the usage row is in the outbox (embedded), not after
          // its commit: a crash loses no row either way (docs/gateway.md, "Latency").
          usageDurability: 'outbox',
          signal,
        });
        for await (const event of stream) {
          if (event.type === 'finish') {
            const usage = event.result.usage;
            used =
              (usage.uncachedInputTokens ?? 0) +
              (usage.cacheReadTokens ?? 0) +
              (usage.cacheWriteTokens ?? 0) +
              (usage.outputTokens ?? 0);
          }
          yield event;
        }
      } finally {
        const left = (inFlight.get(key.id) ?? 1) - 1;
        if (left > 0) inFlight.set(key.id, left);
        else inFlight.delete(key.id);
        // A failed or cut call keeps its estimate in the window (it may have been billed).
        if (window && used !== undefined)
          await store
            .settleWindow(key.id, window.windowStart, window.estimate, used)
            .catch((error: unknown) => logger.warn({ err: error }, 'gateway window settle failed'));
      }
    },

    /** Drops rate windows older than an hour. */
    sweep(): Promise<void> {
      return store.sweepWindows(new Date(now() - 3_600_000));
    },
  };
}

export type GatewayService = ReturnType<typeof createGatewayService>;
