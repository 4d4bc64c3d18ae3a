import type { EventBus, Subscription } from './events.ts';
import type { Logger } from './logger.ts';

/**
 * Invalidation of in-process caches across the servers of a deployment (issue #20 item 6).
 * Metadata that every request reads (gateway keys, providers, budgets, price overrides) is
 * cached per process for a few seconds; a change made through one server drops the entry there
 * at once, and — through this — on every other server after one event round trip, instead of
 * when its copy expires. The notices ride the event bus (one stream for the whole deployment),
 * so they need nothing more than what carries live events between servers: the event log and
 * LISTEN/NOTIFY on PostgreSQL, the process itself on PGlite. A notice lost (a listener that was
 * reconnecting, a `resync`) costs staleness up to the cache's own expiry, which stays as the
 * backstop.
 */
export interface CacheInvalidation {
  /**
   * Wraps the local invalidation of one cache (`topic`): calling the result drops `key` here
   * at once and tells every server, which drop it too. Register before use; a topic is one cache.
   */
  share(topic: string, local: (key: string) => void): (key: string) => void;
  /** Stops listening (the bus stays open). */
  close(): void;
}

export const INVALIDATION_STREAM = 'platform:cache-invalidation';

interface Notice {
  topic: string;
  key: string;
}

const isNotice = (value: unknown): value is Notice =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Notice).topic === 'string' &&
  typeof (value as Notice).key === 'string';

export function createCacheInvalidation(bus: EventBus, logger: Logger): CacheInvalidation {
  const locals = new Map<string, (key: string) => void>();
  let subscription: Subscription | undefined;
  let closed = false;
  const listening = bus.subscribe(INVALIDATION_STREAM).then(
    (opened) => {
      if (closed) {
        opened.close();
        return;
      }
      subscription = opened;
      opened.onReady(() => {
        for (const event of opened.take()) {
          if (!isNotice(event.data)) continue;
          locals.get(event.data.topic)?.(event.data.key);
        }
      });
    },
    (error: unknown) => logger.warn({ err: error }, 'cache invalidation cannot listen'),
  );

  return {
    share(topic, local) {
      if (locals.has(topic)) throw new Error(`cache topic ${topic} shared twice`);
      locals.set(topic, local);
      return (key) => {
        local(key);
        // Never waited for: publish does not reject, and the caller's change is committed.
        void listening.then(() =>
          bus.publish(INVALIDATION_STREAM, { type: 'invalidate', data: { topic, key } }),
        );
      };
    },
    close() {
      closed = true;
      subscription?.close();
    },
  };
}
