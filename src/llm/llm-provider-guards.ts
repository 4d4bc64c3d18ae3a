import type { LlmConfig } from '../platform/config.ts';
import { CircuitBreaker } from './llm-breaker.ts';
import type { Clock } from './llm-clock.ts';
import { AdaptiveLimiter } from './llm-limiter.ts';
import type { ProviderConnection } from './llm-provider-connections.ts';

/**
 * Limiters (per provider) and breakers (per provider+model). They live as long as the
 * process and survive configuration reloads, so a provider's learned concurrency and open
 * circuits are kept when someone edits its name.
 */
export function createTargetGuards(config: LlmConfig, clock: Clock) {
  const limiters = new Map<string, AdaptiveLimiter>();
  const breakers = new Map<string, CircuitBreaker>();

  const limiterFor = (connection: ProviderConnection) => {
    const settings = {
      maxConcurrency: connection.maxConcurrency,
      requestsPerMinute: connection.requestsPerMinute,
    };
    let limiter = limiters.get(connection.id);
    if (!limiter) {
      limiter = new AdaptiveLimiter(settings, clock);
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
      breaker = new CircuitBreaker(
        {
          failureThreshold: config.breakerFailures,
          // Weigh about two rounds of in-flight calls: with 256 at once, a burst of dropped
          // keep-alive connections is a minority of recent outcomes, not a provider outage.
          window: Math.max(20, connection.maxConcurrency * 2),
          openMs: config.breakerOpenMs,
          maxOpenMs: config.breakerOpenMs * 10,
        },
        clock,
      );
      breakers.set(key, breaker);
    }
    return breaker;
  };

  return {
    limiterFor,
    breakerFor,
    /** For tests and /metrics: the live limiter of a provider. */
    limiter(providerId: string): AdaptiveLimiter | undefined {
      return limiters.get(providerId);
    },
    breaker(providerId: string, model: string): CircuitBreaker | undefined {
      return breakers.get(`${providerId}\u0000${model}`);
    },
  };
}
