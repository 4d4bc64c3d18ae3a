import type { LlmConfig } from '../platform/config.ts';
import { type BreakerSettings, CircuitBreaker, type ProviderBreaker } from './llm-breaker.ts';
import type { Clock } from './llm-clock.ts';
import { AdaptiveLimiter, type LimiterSettings, type ProviderLimiter } from './llm-limiter.ts';
import type { ProviderConnection } from './llm-provider-connections.ts';
import { SharedBreaker } from './llm-shared-breaker.ts';
import { SharedLimiter } from './llm-shared-limiter.ts';
import type { SharedRedis } from './llm-shared-redis.ts';

/**
 * Limiters (per provider) and breakers (per provider+model). They live as long as the
 * process and survive configuration reloads, so a provider's learned concurrency and open
 * circuits are kept when someone edits its name. With `shared` (REDIS_URL) they are the
 * Redis-backed ones every server of the deployment shares.
 */
export function createTargetGuards(config: LlmConfig, clock: Clock, shared?: SharedRedis) {
  const limiters = new Map<string, ProviderLimiter>();
  const breakers = new Map<string, ProviderBreaker>();
  const newLimiter = (providerId: string, settings: LimiterSettings): ProviderLimiter =>
    shared
      ? new SharedLimiter(shared, providerId, settings, clock)
      : new AdaptiveLimiter(settings, clock);
  const newBreaker = (providerId: string, model: string, settings: BreakerSettings) =>
    shared
      ? new SharedBreaker(shared, providerId, model, settings, clock)
      : new CircuitBreaker(settings, clock);

  const limiterFor = (connection: ProviderConnection) => {
    const settings = {
      maxConcurrency: connection.maxConcurrency,
      requestsPerMinute: connection.requestsPerMinute,
    };
    let limiter = limiters.get(connection.id);
    if (!limiter) {
      limiter = newLimiter(connection.id, settings);
      limiters.set(connection.id, limiter);
    } else if (
      limiter.settings.maxConcurrency !== settings.maxConcurrency ||
      limiter.settings.requestsPerMinute !== settings.requestsPerMinute
    ) {
      limiter.configure(settings);
    }
    return limiter;
  };

  const breakerFor = (connection: ProviderConnection, model: string) => {
    const key = `${connection.id}\u0000${model}`;
    let breaker = breakers.get(key);
    if (!breaker) {
      breaker = newBreaker(connection.id, model, {
        failureThreshold: config.breakerFailures,
        // Weigh about two rounds of in-flight calls: with 256 at once, a burst of dropped
        // keep-alive connections is a minority of recent outcomes, not a provider outage.
        window: Math.max(20, connection.maxConcurrency * 2),
        openMs: config.breakerOpenMs,
        maxOpenMs: config.breakerOpenMs * 10,
      });
      breakers.set(key, breaker);
    }
    return breaker;
  };

  return {
    limiterFor,
    breakerFor,
    /** For tests and /metrics: the live limiter of a provider. */
    limiter(providerId: string): ProviderLimiter | undefined {
      return limiters.get(providerId);
    },
    breaker(providerId: string, model: string): ProviderBreaker | undefined {
      return breakers.get(`${providerId}\u0000${model}`);
    },
    /** Stops the shared limiters' lease renewals and notices. */
    close(): void {
      for (const limiter of limiters.values()) {
        if (limiter instanceof SharedLimiter) limiter.close();
      }
    },
  };
}
