import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { firstEvent } from '../platform/first-event.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';

/** How the LLM module shares its limits and breakers through Redis (docs/llm.md). */
export interface SharedLimitsOptions {
  /** `redis://` or `rediss://` (TLS, certificate verified). */
  redisUrl: string;
  /**
   * How long a concurrency slot is held without renewal: a server that dies holding slots gives
   * them back this long after its last renewal. Live servers renew every third of it.
   */
  leaseMs?: number;
  /** Longest a waiter sleeps before asking Redis again when no release was announced. */
  pollMs?: number;
  /** Prefix of every key and channel (tests give each run its own). */
  keyPrefix?: string;
}

export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_POLL_MS = 1_000;

/** A Lua script run by its SHA, sent again when Redis has forgotten it (restart, SCRIPT FLUSH). */
export class RedisScript {
  readonly #source: string;
  readonly #sha: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]) {
    try {
      return await redis.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.#source, keys.length, ...keys, ...args);
    }
  }
}

/**
 * The module's two Redis connections (commands, and a subscriber for "a slot was freed"
 * notices) and what every shared limiter and breaker needs to know about them.
 */
export interface SharedRedis {
  readonly redis: Redis;
  /** This server's id: part of every slot holder, so leases say whose they are. */
  readonly serverId: string;
  readonly leaseMs: number;
  readonly pollMs: number;
  /** Keys of one provider: one hash tag, so a script's keys sit in one Redis Cluster slot. */
  key(scope: string, name: string): string;
  /** Channel announcing freed slots of one provider. */
  channel(scope: string): string;
  /** Resolves once the first connection attempt has succeeded or failed (never rejects). */
  ready(): Promise<void>;
  /** Calls `listener` whenever another server (or this one) frees a slot of `scope`. */
  onRelease(scope: string, listener: () => void): () => void;
  /** Logs the first failure of a run of failures, so a Redis outage is one line, not thousands. */
  reportFailure(error: unknown, what: string): void;
  reportRecovery(): void;
  close(): Promise<void>;
  /** Tests: drops both connections at once, as a killed server would, releasing nothing. */
  kill(): void;
}

export function connectSharedRedis(options: SharedLimitsOptions, logger: Logger): SharedRedis {
  const prefix = options.keyPrefix ?? 'braincells:llm';
  const connectionOptions = {
    // Fail fast: a call must not wait behind a dead connection; the limiter falls back instead.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
  } as const;
  const redis = new Redis(options.redisUrl, connectionOptions);
  const subscriber = new Redis(options.redisUrl, {
    ...connectionOptions,
    commandTimeout: undefined,
  });
  const listeners = new Map<string, Set<() => void>>();
  let failing = false;

  const firstAttempt = firstEvent(redis, ['ready', 'error']);
  const onError = (error: unknown) => shared.reportFailure(error, 'connection');
  redis.on('error', onError);
  subscriber.on('error', onError);
  subscriber.on('message', (channel: string) => {
    for (const listener of listeners.get(channel) ?? []) listener();
  });
  // Re-subscribing after a reconnect is ioredis's job (autoResubscribe, on by default).

  const shared: SharedRedis = {
    redis,
    serverId: uuidv7(),
    leaseMs: options.leaseMs ?? DEFAULT_LEASE_MS,
    pollMs: options.pollMs ?? DEFAULT_POLL_MS,
    key: (scope, name) => `${prefix}:{${scope}}:${name}`,
    channel: (scope) => `${prefix}:{${scope}}:released`,
    ready: () => firstAttempt,
    onRelease(scope, listener) {
      const channel = shared.channel(scope);
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        subscriber.subscribe(channel).catch((error: unknown) => onError(error));
      }
      set.add(listener);
      return () => set.delete(listener);
    },
    reportFailure(error, what) {
      if (failing) return;
      failing = true;
      logger.warn(
        { err: error, what },
        'shared LLM limits (Redis) unreachable; this server falls back to its own limits',
      );
    },
    reportRecovery() {
      if (!failing) return;
      failing = false;
      logger.info('shared LLM limits (Redis) reachable again');
    },
    async close() {
      await Promise.allSettled([redis.quit(), subscriber.quit()]);
    },
    kill() {
      redis.disconnect();
      subscriber.disconnect();
    },
  };
  return shared;
}
