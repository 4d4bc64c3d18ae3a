import type { EventEmitter } from 'node:events';

/**
 * Resolves when `emitter` emits the first of `events` (a socket drained or closed, a connection
 * up or failed), leaving no listener behind on the others.
 */
export function firstEvent(emitter: EventEmitter, events: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    const settle = () => {
      for (const event of events) emitter.off(event, settle);
      resolve();
    };
    for (const event of events) emitter.once(event, settle);
  });
}
