import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError } from '../app-error.ts';
import type { Logger } from '../logger.ts';
import { createRedisClient, firstConnection } from '../redis.ts';
import type { AppInstance } from './app-instance.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Requests of this route that the per-IP limit does not count: their caller has a bound of
     * its own (the gateway's known keys, limited per key). Must not read the database: it runs
     * before any other check, for every request of the route.
     */
    rateLimitExempt?: (request: FastifyRequest) => boolean;
  }
}

export interface RateLimitSettings {
  /** Requests per minute per client IP on every route without its own limit. */
  perIp: number;
  /** Requests per minute per user (all their sessions and keys together). */
  perUser: number;
  /** Shared counters for a cluster; in-process counters when unset. */
  redisUrl: string | undefined;
  /** CA of a rediss:// server (BRAINCELLS_REDIS_CA_FILE); unset: the system CAs. */
  redisCaFile?: string | undefined;
}

export interface RateLimiter {
  /** Counts one request against a user's budget; throws RATE_LIMITED past it. */
  perUser(request: FastifyRequest, userId: string): Promise<void>;
}

const WINDOW_MS = 60_000;

function rateLimited(retryAfterSeconds: number): AppError {
  const seconds = Math.max(1, retryAfterSeconds);
  return new AppError('RATE_LIMITED', `Too many requests; retry in ${seconds} s`, {
    headers: { 'retry-after': String(seconds) },
    details: { retryAfterSeconds: seconds },
  });
}

/**
 * Per-IP limits on every route (a route may set a stricter `config.rateLimit`, as sign-in
 * routes do) through @fastify/rate-limit, plus a per-user limit that the auth hook applies
 * once it knows the user. With REDIS_URL the counters live in Redis, so N servers share one
 * budget; if Redis is unreachable requests pass (logged) rather than the API going down.
 *
 * Register before any route: the plugin attaches its hook to routes as they are added.
 */
export async function installRateLimit(
  app: AppInstance,
  settings: RateLimitSettings,
  logger: Logger,
): Promise<RateLimiter> {
  let redis: Redis | undefined;
  if (settings.redisUrl) {
    // Fails fast instead of queueing requests behind a dead connection.
    redis = createRedisClient(
      { url: settings.redisUrl, caFile: settings.redisCaFile },
      { name: 'rate-limit' },
    );
    let healthy = true;
    redis.on('error', (error) => {
      if (healthy)
        logger.warn({ err: error }, 'rate-limit store (Redis) unreachable; limits not enforced');
      healthy = false;
    });
    redis.on('ready', () => {
      healthy = true;
    });
    // Wait for the first connection (or its failure) before serving: with the offline queue
    // off, commands sent while connecting would fail and pass uncounted.
    await firstConnection(redis, 3_000);
    app.addHook('onClose', async () => {
      redis?.disconnect();
    });
  }

  await app.register(rateLimit, {
    global: true,
    max: settings.perIp,
    timeWindow: WINDOW_MS,
    hook: 'onRequest',
    ...(redis ? { redis, nameSpace: 'braincells:rate-limit:' } : {}),
    skipOnError: true,
    allowList: (request) => request.routeOptions.config.rateLimitExempt?.(request) === true,
    errorResponseBuilder: (_request, context) => rateLimited(Math.ceil(context.ttl / 1000)),
  });

  const userLimit = app.createRateLimit({
    max: settings.perUser,
    timeWindow: WINDOW_MS,
    keyGenerator: (request: FastifyRequest & { rateLimitUserId?: string }) =>
      `user:${request.rateLimitUserId ?? 'unknown'}`,
  });

  return {
    async perUser(request, userId) {
      (request as FastifyRequest & { rateLimitUserId?: string }).rateLimitUserId = userId;
      const result = await userLimit(request);
      if (!result.isAllowed && result.isExceeded) throw rateLimited(result.ttlInSeconds);
    },
  };
}
