import { type RawBuilder, sql } from 'kysely';
import type { EventLog } from './event-log.ts';
import type { EventNotifier } from './event-notify.ts';

/**
 * Event fan-out for live views (DESIGN.md "Streams"). A stream is a name such as
 * `dataset:<id>`; every event on it gets the next id of that stream, assigned by the bus (the
 * transport), never by the publisher. A client that reconnects with `Last-Event-ID` gets what
 * it missed; a client that fell further behind than the retention window gets one `resync`
 * event and reloads.
 *
 * Subscribers never slow publishers: each has a bounded queue. When it overflows, events with
 * a coalescing key replace their older pending version (latest cell value wins); when that is
 * not enough, the queue is dropped and replaced by a single `resync`.
 *
 * `publish`, `subscribe` and `lastId` are async because a bus shared by several nodes
 * (PostgreSQL LISTEN/NOTIFY or Redis, issue #20) assigns ids and keeps the retention window in
 * that transport. The in-process bus here keeps them in the metadata database when given an
 * `EventLog` (group commit, bounded retention, the in-memory ring as its cache), so a restart
 * does not force a reload: docs/decisions/2026-12-06-durable-event-ids.md. Every
 * implementation passes the contract suite in `event-bus-contract.ts`.
 */
export interface StreamEvent {
  /** Monotonic per stream, starting at 1; survives a restart when the bus has a log. */
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

export interface PublishOptions {
  /**
   * Stores the event in a statement of the publisher's own, with the write it goes with (a
   * reply's text and its delta): called with the insert of the log's rows for the batch the
   * event is in (a data-modifying CTE for that statement, or a no-op select when nothing is
   * stored), it runs the statement; the event is delivered once it resolved. When it throws,
   * the event is neither stored nor delivered and `publish` rejects with its error (the other
   * events of the batch are stored as usual). It may be called again when another process took
   * the event's id first (the statement failed as a whole: nothing of it was written).
   */
  storeWith?: (insert: RawBuilder<unknown>) => Promise<void>;
}

/** What a `storeWith` statement runs when the batch stores nothing. */
const NOTHING_STORED = sql`select 1 where false`;

export const RESYNC_EVENT = 'resync';

/**
 * Thrown by an `EventLog` when an id it was given is taken (another process on the same
 * database wrote it first): the bus reads the stream's last id again and renumbers.
 */
export class EventIdTaken extends Error {
  constructor(options?: { cause?: unknown }) {
    super('event id already taken', options);
    this.name = 'EventIdTaken';
  }
}

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
  /**
   * Gives the event the stream's next id and delivers it once the transport has it (stored,
   * for a bus with a log). Resolves with the event; never rejects, so a publisher that does
   * not wait (fire-and-forget) is safe — unless `options.storeWith` fails (see there).
   * Publishers never wait for subscribers.
   */
  publish(stream: string, event: PublishInput, options?: PublishOptions): Promise<StreamEvent>;
  /** Resolves once the backlog after `lastEventId` (or a `resync`) is queued. */
  subscribe(stream: string, options?: SubscribeOptions): Promise<Subscription>;
  /** The id of the last event delivered on a stream (0 when none). */
  lastId(stream: string): Promise<number>;
  /** Subscribers connected to this node. */
  subscriberCount(stream?: string): number;
  /** Stores what is still pending; later events are delivered but no longer stored. */
  close(): Promise<void>;
}

export interface InProcessEventBusOptions {
  /** Events kept in memory per stream for Last-Event-ID resume (the log's cache). */
  ringSize?: number;
  bufferLimit?: number;
  /** Keep events (and ids) durably here; without one, ids start over with the process. */
  log?: EventLog;
  /** Events the log keeps per stream, at least (default `ringSize`; up to twice that). */
  retainPerStream?: number;
  /** Events older than this leave the log (a stream's newest stays, keeping its last id). */
  retentionMs?: number;
  /** Milliseconds since the epoch; tests pass a fake clock. */
  now?: () => number;
  /**
   * Several servers on one database (issue #20): after storing events the bus tells the
   * others, and reads from the log what they stored (event-notify.ts). Needs `log`.
   */
  shared?: EventNotifier;
  /** A log read or write failed: the bus carries on in memory (a resume may then resync). */
  onError?: (
    error: unknown,
    operation: 'load' | 'append' | 'read' | 'prune' | 'listen' | 'notify',
  ) => void;
}

const DAY_MS = 86_400_000;
const AGE_SWEEP_EVERY_MS = 3_600_000;

interface StreamState {
  name: string;
  /** False until the stream's last id is known (read from the log). */
  ready: boolean;
  loading: Promise<void> | undefined;
  /** False when the log could not be read: this stream lives in memory only. */
  durable: boolean;
  nextId: number;
  /** The last id delivered (stored first, when there is a log). */
  deliveredId: number;
  prunedThrough: number;
  ring: StreamEvent[];
  subscribers: Set<SubscriberState>;
}

interface SubscriberState {
  queue: StreamEvent[];
  limit: number;
  listener: (() => void) | undefined;
  scheduled: boolean;
  closed: boolean;
  /** Live events that arrive while the backlog is read from the log. */
  catchingUp: StreamEvent[] | undefined;
}

interface PendingWrite {
  state: StreamState;
  input: PublishInput;
  resolve: (event: StreamEvent) => void;
  /** A publisher's own statement stores the batch (`PublishOptions.storeWith`): the last write of its batch. */
  storeWith?: ((insert: RawBuilder<unknown>) => Promise<void>) | undefined;
  reject?: (error: unknown) => void;
}

/** Attempts to store a batch whose ids another process took first, before giving up. */
const ID_RETRIES = 5;

export function createInProcessEventBus(options: InProcessEventBusOptions = {}): EventBus {
  const ringSize = options.ringSize ?? 1_000;
  const defaultLimit = options.bufferLimit ?? 1_000;
  const { log } = options;
  const retain = Math.max(1, options.retainPerStream ?? ringSize);
  const retentionMs = options.retentionMs ?? DAY_MS;
  const now = options.now ?? Date.now;
  const report = options.onError ?? (() => {});
  const streams = new Map<string, StreamState>();
  const shared = log ? options.shared : undefined;
  /** Streams other servers stored events on, with the last id they named (undefined: unknown). */
  const remote = new Map<StreamState, number | undefined>();
  let pending: PendingWrite[] = [];
  let writing: Promise<void> | undefined;
  let lastAgeSweep = Number.NEGATIVE_INFINITY;
  let closed = false;

  const streamOf = (name: string) => {
    let state = streams.get(name);
    if (!state) {
      state = {
        name,
        ready: log === undefined,
        loading: undefined,
        durable: log !== undefined,
        nextId: 1,
        deliveredId: 0,
        prunedThrough: 0,
        ring: [],
        subscribers: new Set(),
      };
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
    id: state.deliveredId,
    type: RESYNC_EVENT,
    data: { reason: 'too-far-behind' },
  });

  const deliver = (state: StreamState, subscriber: SubscriberState, event: StreamEvent) => {
    const queue = subscriber.queue;
    if (queue.length >= subscriber.limit) {
      if (event.coalesceKey !== undefined) {
        const index = queue.findIndex((waiting) => waiting.coalesceKey === event.coalesceKey);
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

  /** The event is in the transport: cache it in the ring and hand it to every subscriber. */
  const commit = (state: StreamState, event: StreamEvent) => {
    state.deliveredId = event.id;
    state.ring.push(event);
    if (state.ring.length > ringSize) state.ring.splice(0, state.ring.length - ringSize);
    for (const subscriber of state.subscribers) {
      if (subscriber.catchingUp) subscriber.catchingUp.push(event);
      else deliver(state, subscriber, event);
    }
  };

  /** Keeps the log within `retain`..2×`retain` events per stream, and within its age. */
  const prune = async (states: Set<StreamState>) => {
    if (!log) return;
    try {
      for (const state of states) {
        if (state.deliveredId - state.prunedThrough < 2 * retain) continue;
        const through = state.deliveredId - retain;
        await log.prune(state.name, through);
        state.prunedThrough = through;
      }
      if (now() - lastAgeSweep >= AGE_SWEEP_EVERY_MS) {
        lastAgeSweep = now();
        await log.pruneOlderThan(new Date(now() - retentionMs));
      }
    } catch (error) {
      report(error, 'prune');
    }
  };

  const eventOf = (id: number, input: PublishInput): StreamEvent => ({
    id,
    type: input.type,
    data: input.data,
    ...(input.coalesceKey === undefined ? {} : { coalesceKey: input.coalesceKey }),
  });

  /** Learns a stream's last id from the log once. */
  const load = (state: StreamState): Promise<void> => {
    if (state.ready) return Promise.resolve();
    state.loading ??= (async () => {
      let last = 0;
      try {
        last = await log!.lastId(state.name);
      } catch (error) {
        // Ids unknown: this stream stays in memory (clients from before a restart resync).
        report(error, 'load');
        state.durable = false;
      }
      state.nextId = last + 1;
      state.deliveredId = last;
      state.ready = true;
    })();
    return state.loading;
  };

  /**
   * Numbers a batch (in publish order) and stores it. Ids are given here, at write time, so a
   * conflict with another process on the same database only renumbers what nobody has seen.
   */
  const store = async (batch: PendingWrite[]): Promise<(StreamEvent | undefined)[]> => {
    // A publisher's statement that failed: its event is dropped (rejected), the rest stored.
    let writes = batch;
    for (let attempt = 1; ; attempt++) {
      const firstIds = new Map<StreamState, number>();
      const events = writes.map(({ state, input }) => {
        if (!firstIds.has(state)) firstIds.set(state, state.nextId);
        return eventOf(state.nextId++, input);
      });
      const durable = writes.flatMap(({ state }, index) =>
        state.durable ? [{ stream: state.name, event: events[index]! }] : [],
      );
      const writer = writes.at(-1)?.storeWith;
      try {
        if (writer) {
          if (durable.length === 0) await writer(NOTHING_STORED);
          else await log!.appendWith(durable, writer);
        } else if (durable.length > 0) await log!.append(durable);
        return batch.map((write) => {
          const index = writes.indexOf(write);
          return index < 0 ? undefined : events[index];
        });
      } catch (error) {
        if (error instanceof EventIdTaken && attempt < ID_RETRIES) {
          for (const state of new Set(writes.map((write) => write.state))) {
            const last = await log!.lastId(state.name).catch(() => state.nextId - 1);
            state.nextId = Math.max(last, state.deliveredId) + 1;
          }
          continue;
        }
        if (writer) {
          // Nothing of the statement was written: its ids go back, its publisher is told.
          for (const [state, id] of firstIds) state.nextId = id;
          const failed = writes.at(-1)!;
          failed.reject?.(error);
          writes = writes.slice(0, -1);
          if (writes.length === 0) return batch.map(() => undefined);
          attempt = 0;
          continue;
        }
        // Live views beat durability: deliver anyway. A later resume across these ids finds
        // a gap in the log and resyncs.
        report(error, 'append');
        return batch.map((write) => events[writes.indexOf(write)]);
      }
    }
  };

  /**
   * Another server stored events on this stream through `throughId` (read from the log when
   * undefined): deliver the ones this server has not, in id order, so every subscriber of
   * every server sees one contiguous sequence. Runs inside the write loop, between batches.
   */
  const catchUp = async (state: StreamState, throughId: number | undefined) => {
    if (!state.ready || !state.durable) return; // not loaded yet: load() reads the last id
    let through = throughId;
    if (through === undefined) {
      try {
        through = await log!.lastId(state.name);
      } catch (error) {
        report(error, 'read');
        return;
      }
    }
    if (through <= state.deliveredId) return;
    const backlog =
      state.subscribers.size > 0 ? await readBacklog(state, state.deliveredId, through) : undefined;
    if (backlog) {
      for (const event of backlog) commit(state, event);
    } else {
      // Nobody listens here (nothing to deliver), or the log no longer holds the gap: the
      // ring cannot serve a resume across it, and a subscriber reloads.
      state.ring = [];
      state.deliveredId = through;
      for (const subscriber of state.subscribers) {
        if (subscriber.catchingUp) subscriber.catchingUp.push(resyncEvent(state));
        else deliver(state, subscriber, resyncEvent(state));
      }
    }
    state.nextId = Math.max(state.nextId, state.deliveredId + 1);
  };

  const catchUpRemote = async () => {
    while (remote.size > 0) {
      const [state, throughId] = remote.entries().next().value!;
      remote.delete(state);
      await catchUp(state, throughId);
    }
  };

  /**
   * Group commit: every event published while a write is in flight goes into the next write,
   * one INSERT for all of them, so the log costs one statement per batch, not per event.
   * Subscribers get events only once stored: an id a client saw is always in the log.
   */
  const writeLoop = async () => {
    // Publishes of the current turn of the event loop join the first batch.
    await Promise.resolve();
    while (pending.length > 0 || remote.size > 0) {
      await catchUpRemote();
      if (pending.length === 0) continue;
      // A publisher's own statement stores its batch: the batch ends with it.
      const cut = pending.findIndex((write) => write.storeWith !== undefined) + 1;
      const taken = cut === 0 ? pending : pending.slice(0, cut);
      pending = cut === 0 ? [] : pending.slice(cut);
      const states = new Set(taken.map((write) => write.state));
      for (const state of states) await load(state);
      const numbered = await store(taken);
      const batch = taken.filter((_write, index) => numbered[index] !== undefined);
      const events = numbered.filter((event) => event !== undefined);
      if (shared) await beforeCommit(batch, events);
      for (const [index, { state, resolve }] of batch.entries()) {
        commit(state, events[index]!);
        resolve(events[index]!);
      }
      if (shared) await notifyOthers(batch, events);
      await prune(new Set([...states].filter((state) => state.durable)));
    }
    writing = undefined;
  };

  /** Ids another server took before this batch (it was renumbered past them) come first. */
  const beforeCommit = async (batch: PendingWrite[], events: StreamEvent[]) => {
    const first = new Map<StreamState, number>();
    for (const [index, { state }] of batch.entries())
      if (!first.has(state)) first.set(state, events[index]!.id);
    for (const [state, id] of first)
      if (state.durable && id > state.deliveredId + 1) await catchUp(state, id - 1);
  };

  const notifyOthers = async (batch: PendingWrite[], events: StreamEvent[]) => {
    const last = new Map<string, number>();
    for (const [index, { state }] of batch.entries())
      if (state.durable) last.set(state.name, events[index]!.id);
    if (last.size === 0) return;
    await shared!.notify([...last].map(([stream, lastId]) => ({ stream, lastId })));
  };

  shared?.listen({
    onNotice(notice) {
      const state = streams.get(notice.stream);
      // A stream this server never served reads its last id from the log when first used.
      if (!state || closed) return;
      const known = remote.has(state) ? remote.get(state) : 0;
      remote.set(state, known === undefined ? undefined : Math.max(known, notice.lastId));
      writing ??= writeLoop();
    },
    onGap() {
      if (closed) return;
      for (const state of streams.values()) remote.set(state, undefined);
      if (remote.size > 0) writing ??= writeLoop();
    },
  });

  const handleOf = (state: StreamState, subscriber: SubscriberState): Subscription => ({
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
      subscriber.catchingUp = undefined;
      state.subscribers.delete(subscriber);
    },
    get closed() {
      return subscriber.closed;
    },
  });

  /** The backlog after `lastEventId` from the log, or undefined when it is not all there. */
  const readBacklog = async (state: StreamState, lastEventId: number, upTo: number) => {
    if (!log || !state.durable || upTo - lastEventId > 2 * retain) return undefined;
    try {
      const events = await log.read(state.name, lastEventId, upTo - lastEventId);
      // Contiguous or nothing: a missing id is a pruned or unstored event the client needs.
      const complete =
        events.length === upTo - lastEventId &&
        events[0]?.id === lastEventId + 1 &&
        events.at(-1)?.id === upTo;
      return complete ? events : undefined;
    } catch (error) {
      report(error, 'read');
      return undefined;
    }
  };

  return {
    publish(streamName, input, publishOptions = {}) {
      const state = streamOf(streamName);
      const { storeWith } = publishOptions;
      if (!log || closed) {
        // Memory only (or after close: stored no more): numbered and delivered at once.
        const deliverNow = () => {
          if (!state.ready) {
            state.ready = true;
            state.nextId = state.deliveredId + 1;
          }
          const event = eventOf(state.nextId++, input);
          commit(state, event);
          return event;
        };
        return storeWith
          ? storeWith(NOTHING_STORED).then(deliverNow)
          : Promise.resolve(deliverNow());
      }
      return new Promise((resolve, reject) => {
        pending.push({ state, input, resolve, ...(storeWith ? { storeWith, reject } : {}) });
        writing ??= writeLoop();
      });
    },

    async subscribe(streamName, subscribeOptions = {}) {
      const state = streamOf(streamName);
      await load(state);
      const subscriber: SubscriberState = {
        queue: [],
        limit: subscribeOptions.bufferLimit ?? defaultLimit,
        listener: undefined,
        scheduled: false,
        closed: false,
        catchingUp: undefined,
      };
      const handle = handleOf(state, subscriber);
      const { lastEventId } = subscribeOptions;
      const upTo = state.deliveredId;
      if (lastEventId === undefined || lastEventId === upTo) {
        state.subscribers.add(subscriber);
        return handle;
      }
      if (lastEventId < 0 || lastEventId > upTo) {
        // An id this stream never delivered (a crash lost it, or another stream's): reload.
        subscriber.queue.push(resyncEvent(state));
        state.subscribers.add(subscriber);
        return handle;
      }
      const oldest = state.ring[0]?.id;
      if (oldest !== undefined && oldest <= lastEventId + 1) {
        for (const event of state.ring)
          if (event.id > lastEventId) deliver(state, subscriber, event);
        state.subscribers.add(subscriber);
        return handle;
      }
      // Older than the ring: listen first, then read the log, so nothing falls in between.
      subscriber.catchingUp = [];
      state.subscribers.add(subscriber);
      const backlog = await readBacklog(state, lastEventId, upTo);
      const live = subscriber.catchingUp ?? [];
      subscriber.catchingUp = undefined;
      if (subscriber.closed) return handle;
      if (!backlog) {
        subscriber.queue.push(resyncEvent(state));
        wake(subscriber);
        return handle;
      }
      for (const event of backlog) deliver(state, subscriber, event);
      for (const event of live) if (event.id > upTo) deliver(state, subscriber, event);
      return handle;
    },

    async lastId(streamName) {
      const state = streamOf(streamName);
      await load(state);
      return state.deliveredId;
    },

    subscriberCount(streamName) {
      if (streamName !== undefined) return streams.get(streamName)?.subscribers.size ?? 0;
      let total = 0;
      for (const state of streams.values()) total += state.subscribers.size;
      return total;
    },

    async close() {
      while (writing) await writing;
      closed = true;
      await shared?.close();
    },
  };
}
