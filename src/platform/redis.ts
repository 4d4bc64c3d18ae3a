import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Redis } from 'ioredis';

/** Where Redis is and how to trust it (REDIS_URL, BRAINCELLS_REDIS_CA_FILE). */
export interface RedisSettings {
  url: string;
  /** PEM of the CA that signed the server certificate (rediss:// only); unset: system CAs. */
  caFile: string | undefined;
}

export interface RedisClientOptions {
  /** Shown in `CLIENT LIST` as `braincells-<name>`, so an operator sees who holds a connection. */
  name: string;
  /** Milliseconds to open the TCP (and TLS) connection. */
  connectTimeoutMs?: number;
}

/**
 * A Redis connection for one purpose (rate limits, readiness, shared LLM limits). Commands
 * fail at once while the connection is down instead of queueing behind it; the client keeps
 * reconnecting in the background. `rediss://` connects over TLS with the certificate chain and
 * host name always verified — never `rejectUnauthorized: false`.
 */
export function createRedisClient(settings: RedisSettings, options: RedisClientOptions): Redis {
  const url = new URL(settings.url);
  const tls = url.protocol === 'rediss:' ? tlsOptions(settings, url.hostname) : undefined;
  return new Redis(settings.url, {
    connectionName: `braincells-${options.name}`,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: options.connectTimeoutMs ?? 2_000,
    lazyConnect: false,
    ...(tls ? { tls } : {}),
  });
}

function tlsOptions(settings: RedisSettings, hostname: string) {
  const host = hostname.replace(/^\[|\]$/g, '');
  return {
    rejectUnauthorized: true,
    // SNI carries a DNS name only (RFC 6066 §3); an IP address is still checked against the
    // certificate's IP entries.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...(settings.caFile ? { ca: readFileSync(settings.caFile, 'utf8') } : {}),
  };
}

/** Resolves when the connection is up or has failed once, whichever comes first (or on timeout). */
export function firstConnection(redis: Redis, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const settle = () => {
      clearTimeout(timer);
      redis.off('ready', settle);
      redis.off('error', settle);
      resolve();
    };
    const timer = setTimeout(settle, timeoutMs);
    redis.once('ready', settle);
    redis.once('error', settle);
  });
}

/** PING, refused at once while disconnected (no offline queue); the caller bounds the wait. */
export async function pingRedis(redis: Redis): Promise<void> {
  const answer = await redis.ping();
  if (answer !== 'PONG') throw new Error(`Redis answered PING with ${answer}`);
}
