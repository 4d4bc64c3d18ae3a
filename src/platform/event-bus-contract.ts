import { expect, it } from 'vitest';
import { type EventBus, RESYNC_EVENT, type StreamEvent } from './events.ts';

/**
 * The contract every `EventBus` keeps, as one test suite that takes a bus factory (the way
 * hono runs one router suite against every router). The in-process bus runs it now, memory
 * only and with its durable log on PGlite and PostgreSQL (events.test.ts); the shared
 * PostgreSQL/Redis transport of the multi-node issue (#20) runs it too, its `restart` being
 * "another node".
 */
export interface EventBusHarness {
  bus: EventBus;
  /**
   * Closes `bus` and opens another on the same transport, as after a restart (or on another
   * node). Absent for a bus whose ids start over with the process (memory only).
   */
  restart?: () => Promise<EventBus>;
  close(): Promise<void>;
}

export interface EventBusFactoryOptions {
  /** Events the bus must be able to resume from (at least; a transport may keep more). */
  ringSize: number;
  bufferLimit?: number;
}

export type EventBusFactory = (options: EventBusFactoryOptions) => Promise<EventBusHarness>;

let streamCounter = 0;
/** A stream of the test's own: a shared transport may hold other tests' streams. */
const freshStream = (label: string) =>
  `test:${label}:${process.pid}:${++streamCounter}:${Date.now()}`;

const ids = (events: StreamEvent[]) => events.map((event) => event.id);

/**
 * `durable`: the bus keeps ids and its retention window across a restart (then the harness
 * has `restart`); a memory-only bus runs every other test.
 */
export function eventBusContract(factory: EventBusFactory, options: { durable: boolean }): void {
  const withBus = async (
    options: EventBusFactoryOptions,
    body: (harness: EventBusHarness) => Promise<void>,
  ) => {
    const harness = await factory(options);
    try {
      await body(harness);
    } finally {
      await harness.close();
    }
  };

  it('numbers events per stream from 1 and delivers them to every subscriber in order', async () => {
    await withBus({ ringSize: 100 }, async ({ bus }) => {
      const stream = freshStream('order');
      const other = freshStream('other');
      expect(await bus.lastId(stream)).toBe(0);
      const a = await bus.subscribe(stream);
      const b = await bus.subscribe(stream);
      const first = await bus.publish(stream, { type: 'cells-update', data: { n: 1 } });
      await bus.publish(other, { type: 'x', data: {} });
      const second = await bus.publish(stream, { type: 'cells-update', data: { n: 2 } });
      expect([first.id, second.id]).toEqual([1, 2]);
      expect(ids(a.take())).toEqual([1, 2]);
      expect(b.take().map((event) => event.data)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(await bus.lastId(other)).toBe(1);
      expect(await bus.lastId(stream)).toBe(2);
      expect(bus.subscriberCount(stream)).toBe(2);
    });
  });

  it('gives publishes that do not wait for each other ids in call order', async () => {
    await withBus({ ringSize: 1_000 }, async ({ bus }) => {
      const stream = freshStream('burst');
      const subscription = await bus.subscribe(stream);
      const published = await Promise.all(
        Array.from({ length: 300 }, (_, n) => bus.publish(stream, { type: 'e', data: n })),
      );
      expect(published.map((event) => event.data)).toEqual(published.map((_, n) => n));
      expect(ids(published)).toEqual(published.map((_, n) => n + 1));
      expect(subscription.take().map((event) => event.data)).toEqual(published.map((_, n) => n));
    });
  });

  it('resumes after Last-Event-ID, and says resync when too far back or for an id it never gave', async () => {
    await withBus({ ringSize: 3 }, async ({ bus }) => {
      const stream = freshStream('resume');
      for (let n = 1; n <= 20; n++) await bus.publish(stream, { type: 'e', data: n });
      expect(ids((await bus.subscribe(stream, { lastEventId: 17 })).take())).toEqual([18, 19, 20]);
      expect((await bus.subscribe(stream, { lastEventId: 20 })).take()).toEqual([]);
      expect((await bus.subscribe(stream, { lastEventId: 1 })).take()).toEqual([
        { id: 20, type: RESYNC_EVENT, data: { reason: 'too-far-behind' } },
      ]);
      const ahead = (await bus.subscribe(stream, { lastEventId: 99 })).take();
      expect(ahead).toEqual([{ id: 20, type: RESYNC_EVENT, data: { reason: 'too-far-behind' } }]);
    });
  });

  it('a subscriber that joins while events are in flight misses none and sees none twice', async () => {
    await withBus({ ringSize: 1_000 }, async ({ bus }) => {
      const stream = freshStream('join');
      for (let n = 0; n < 5; n++) await bus.publish(stream, { type: 'e', data: n });
      const inFlight = Array.from({ length: 50 }, (_, n) =>
        bus.publish(stream, { type: 'e', data: 5 + n }),
      );
      const joined = await bus.subscribe(stream, { lastEventId: 2 });
      await Promise.all(inFlight);
      expect(ids(joined.take())).toEqual(Array.from({ length: 53 }, (_, n) => n + 3));
    });
  });

  it('a slow subscriber gets coalesced updates, then resync; others are unaffected', async () => {
    await withBus({ ringSize: 100 }, async ({ bus }) => {
      const stream = freshStream('slow');
      const slow = await bus.subscribe(stream, { bufferLimit: 2 });
      const fast = await bus.subscribe(stream, { bufferLimit: 100 });
      await bus.publish(stream, { type: 'cells-update', data: 'a1', coalesceKey: 'cell:1' });
      await bus.publish(stream, { type: 'cells-update', data: 'b1', coalesceKey: 'cell:2' });
      await bus.publish(stream, { type: 'cells-update', data: 'a2', coalesceKey: 'cell:1' });
      expect(slow.take().map((event) => event.data)).toEqual(['b1', 'a2']);
      for (let n = 0; n < 5; n++) await bus.publish(stream, { type: 'rows-append', data: n });
      const events = slow.take();
      expect(events).toHaveLength(1);
      expect(events[0]!.type).toBe(RESYNC_EVENT);
      expect(events[0]!.id).toBe(8);
      expect(fast.take()).toHaveLength(8);
    });
  });

  it('publishers never wait for a subscriber that does not read', async () => {
    await withBus({ ringSize: 100 }, async ({ bus }) => {
      const stream = freshStream('stuck');
      const stuck = await bus.subscribe(stream, { bufferLimit: 10 });
      stuck.onReady(() => {});
      const published = await Promise.all(
        Array.from({ length: 2_000 }, (_, n) => bus.publish(stream, { type: 'e', data: n })),
      );
      expect(published.at(-1)!.id).toBe(2_000);
      // Its queue stayed bounded: one resync stands for everything it missed.
      expect(stuck.take()).toEqual([
        { id: 2_000, type: RESYNC_EVENT, data: { reason: 'too-far-behind' } },
      ]);
    });
  });

  it('wakes a listener once per batch and forgets closed subscribers', async () => {
    await withBus({ ringSize: 100 }, async ({ bus }) => {
      const stream = freshStream('wake');
      const subscription = await bus.subscribe(stream);
      let wakes = 0;
      subscription.onReady(() => {
        wakes++;
      });
      await Promise.all([
        bus.publish(stream, { type: 'e', data: 1 }),
        bus.publish(stream, { type: 'e', data: 2 }),
      ]);
      await Promise.resolve();
      expect(wakes).toBe(1);
      expect(ids(subscription.take())).toEqual([1, 2]);
      subscription.close();
      expect(subscription.closed).toBe(true);
      expect(bus.subscriberCount(stream)).toBe(0);
      await bus.publish(stream, { type: 'e', data: 3 });
      expect(subscription.take()).toEqual([]);
    });
  });

  if (!options.durable) return;

  it('after a restart ids go on, and a client from before resumes without resync', async () => {
    const harness = await factory({ ringSize: 3 });
    try {
      if (!harness.restart) throw new Error('a durable bus harness needs restart()');
      const stream = freshStream('restart');
      for (let n = 1; n <= 10; n++) await harness.bus.publish(stream, { type: 'e', data: n });
      const bus = await harness.restart();
      expect(await bus.lastId(stream)).toBe(10);
      const next = await bus.publish(stream, { type: 'e', data: 11 });
      expect(next.id).toBe(11);
      const resumed = (await bus.subscribe(stream, { lastEventId: 8 })).take();
      expect(resumed.map((event) => [event.id, event.data])).toEqual([
        [9, 9],
        [10, 10],
        [11, 11],
      ]);
      // Beyond the retention window, and an id never given, still reload.
      expect((await bus.subscribe(stream, { lastEventId: 1 })).take()[0]!.type).toBe(RESYNC_EVENT);
      expect((await bus.subscribe(stream, { lastEventId: 12 })).take()[0]).toEqual({
        id: 11,
        type: RESYNC_EVENT,
        data: { reason: 'too-far-behind' },
      });
    } finally {
      await harness.close();
    }
  });
}
