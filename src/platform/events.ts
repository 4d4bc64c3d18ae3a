/**
 * Event fan-out for live views (DESIGN.md "Streams"). A stream is a name such as
 * `dataset:<id>`; every event on it gets the next id of that stream. The last `ringSize`
 * events are kept so a client that reconnects with `Last-Event-ID` gets what it missed; a
 * client that fell further behind gets one `resync` event and reloads.
 *
 * Subscribers never slow publishers: each has a bounded queue. When it overflows, events with
 * a coalescing key replace their older pending version (latest cell value wins); when that is
 * not enough, the queue is dropped and replaced by a single `resync`.
 *
 * This implementation fans out in process. A multi-node deployment implements the same
 * `EventBus` over PostgreSQL LISTEN/NOTIFY or Redis pub/sub (ids then come from the shared
 * transport); publishers and the SSE layer do not change.
 */
export interface StreamEvent {
  /** Monotonic per stream, starting at 1. */
  id: number;
  type: string;
  data: unknown;
  /** Pending events with the same key are coalesced: only the newest is delivered. */
  coalesceKey?: string;
}

export interface PublishInput {
  type: string;
  data: unknown;
  coalesceKey?: string;
}

export const RESYNC_EVENT = 'resync';

export interface Subscription {
  /** Events waiting for this subscriber, oldest first; removes them. */
  take(): StreamEvent[];
  /** Called (at most once per wake-up) when events are waiting. */
  onReady(listener: () => void): void;
  close(): void;
  readonly closed: boolean;
}

export interface SubscribeOptions {
  /** Resume after this id (the client's Last-Event-ID). */
  lastEventId?: number;
  /** Pending events this subscriber may hold before coalescing/resync. */
  bufferLimit?: number;
}

export interface EventBus {
  publish(stream: string, event: PublishInput): StreamEvent;
  subscribe(stream: string, options?: SubscribeOptions): Subscription;
  /** The id of the last event on a stream (0 when none). */
  lastId(stream: string): number;
  subscriberCount(stream?: string): number;
}

export interface InProcessEventBusOptions {
  /** Events kept per stream for Last-Event-ID resume. */
  ringSize?: number;
  bufferLimit?: number;
}

interface StreamState {
  nextId: number;
  ring: StreamEvent[];
  subscribers: Set<SubscriberState>;
}

interface SubscriberState {
  queue: StreamEvent[];
  limit: number;
  listener: (() => void) | undefined;
  scheduled: boolean;
  closed: boolean;
}

export function createInProcessEventBus(options: InProcessEventBusOptions = {}): EventBus {
  const ringSize = options.ringSize ?? 1_000;
  const defaultLimit = options.bufferLimit ?? 1_000;
  const streams = new Map<string, StreamState>();

  const streamOf = (name: string) => {
    let state = streams.get(name);
    if (!state) {
      state = { nextId: 1, ring: [], subscribers: new Set() };
      streams.set(name, state);
    }
    return state;
  };

  const wake = (subscriber: SubscriberState) => {
    if (subscriber.scheduled || !subscriber.listener || subscriber.closed) return;
    subscriber.scheduled = true;
    queueMicrotask(() => {
      subscriber.scheduled = false;
      if (!subscriber.closed && subscriber.queue.length > 0) subscriber.listener?.();
    });
  };

  const resyncEvent = (state: StreamState): StreamEvent => ({
    // Carries the stream's current id: after reloading, the client resumes from here.
    id: state.nextId - 1,
    type: RESYNC_EVENT,
    data: { reason: 'too-far-behind' },
  });

  const deliver = (state: StreamState, subscriber: SubscriberState, event: StreamEvent) => {
    const queue = subscriber.queue;
    if (queue.length >= subscriber.limit) {
      if (event.coalesceKey !== undefined) {
        const index = queue.findIndex((pending) => pending.coalesceKey === event.coalesceKey);
        if (index >= 0) {
          queue.splice(index, 1);
          queue.push(event);
          wake(subscriber);
          return;
        }
      }
      // Too slow to keep up: drop what is pending, tell it to reload.
      queue.length = 0;
      queue.push(resyncEvent(state));
    } else if (queue.at(-1)?.type === RESYNC_EVENT) {
      // Already told to reload; the reload covers this event too.
      queue[queue.length - 1] = resyncEvent(state);
    } else {
      queue.push(event);
    }
    wake(subscriber);
  };

  return {
    publish(streamName, input) {
      const state = streamOf(streamName);
      const event: StreamEvent = {
        id: state.nextId++,
        type: input.type,
        data: input.data,
        ...(input.coalesceKey === undefined ? {} : { coalesceKey: input.coalesceKey }),
      };
      state.ring.push(event);
      if (state.ring.length > ringSize) state.ring.splice(0, state.ring.length - ringSize);
      for (const subscriber of state.subscribers) deliver(state, subscriber, event);
      return event;
    },

    subscribe(streamName, subscribeOptions = {}) {
      const state = streamOf(streamName);
      const subscriber: SubscriberState = {
        queue: [],
        limit: subscribeOptions.bufferLimit ?? defaultLimit,
        listener: undefined,
        scheduled: false,
        closed: false,
      };
      const { lastEventId } = subscribeOptions;
      if (lastEventId !== undefined && lastEventId < state.nextId - 1) {
        const oldest = state.ring[0]?.id ?? state.nextId;
        if (lastEventId + 1 < oldest || lastEventId < 0) subscriber.queue.push(resyncEvent(state));
        else
          for (const event of state.ring)
            if (event.id > lastEventId) deliver(state, subscriber, event);
      } else if (lastEventId !== undefined && lastEventId > state.nextId - 1) {
        // An id from before a restart (ids are per process here): the client must reload.
        subscriber.queue.push(resyncEvent(state));
      }
      state.subscribers.add(subscriber);
      return {
        take() {
          const events = subscriber.queue;
          subscriber.queue = [];
          return events;
        },
        onReady(listener) {
          subscriber.listener = listener;
          if (subscriber.queue.length > 0) wake(subscriber);
        },
        close() {
          subscriber.closed = true;
          subscriber.queue = [];
          state.subscribers.delete(subscriber);
        },
        get closed() {
          return subscriber.closed;
        },
      };
    },

    lastId(streamName) {
      return (streams.get(streamName)?.nextId ?? 1) - 1;
    },

    subscriberCount(streamName) {
      if (streamName !== undefined) return streams.get(streamName)?.subscribers.size ?? 0;
      let total = 0;
      for (const state of streams.values()) total += state.subscribers.size;
      return total;
    },
  };
}
