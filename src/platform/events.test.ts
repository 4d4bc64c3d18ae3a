import { describe, expect, it } from 'vitest';
import { createInProcessEventBus, RESYNC_EVENT } from './events.ts';

describe('in-process event bus', () => {
  it('numbers events per stream and delivers them to every subscriber', async () => {
    const bus = createInProcessEventBus();
    const a = bus.subscribe('s');
    const b = bus.subscribe('s');
    bus.publish('s', { type: 'cell-update', data: { n: 1 } });
    bus.publish('other', { type: 'x', data: {} });
    bus.publish('s', { type: 'cell-update', data: { n: 2 } });
    expect(a.take().map((event) => event.id)).toEqual([1, 2]);
    expect(b.take().map((event) => event.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(bus.lastId('other')).toBe(1);
  });

  it('resumes after Last-Event-ID from the ring, and says resync when it is too far back', () => {
    const bus = createInProcessEventBus({ ringSize: 3 });
    for (let n = 1; n <= 5; n++) bus.publish('s', { type: 'e', data: n });
    expect(
      bus
        .subscribe('s', { lastEventId: 3 })
        .take()
        .map((event) => event.id),
    ).toEqual([4, 5]);
    expect(bus.subscribe('s', { lastEventId: 5 }).take()).toEqual([]);
    const behind = bus.subscribe('s', { lastEventId: 1 }).take();
    expect(behind).toEqual([{ id: 5, type: RESYNC_EVENT, data: { reason: 'too-far-behind' } }]);
    // An id this process never issued (a restart): reload.
    expect(bus.subscribe('s', { lastEventId: 99 }).take()[0]!.type).toBe(RESYNC_EVENT);
  });

  it('a slow subscriber gets coalesced updates, then resync; others are unaffected', () => {
    const bus = createInProcessEventBus();
    const slow = bus.subscribe('s', { bufferLimit: 2 });
    const fast = bus.subscribe('s', { bufferLimit: 100 });
    bus.publish('s', { type: 'cell-update', data: 'a1', coalesceKey: 'cell:1' });
    bus.publish('s', { type: 'cell-update', data: 'b1', coalesceKey: 'cell:2' });
    bus.publish('s', { type: 'cell-update', data: 'a2', coalesceKey: 'cell:1' });
    expect(slow.take().map((event) => event.data)).toEqual(['b1', 'a2']);
    for (let n = 0; n < 5; n++) bus.publish('s', { type: 'row-append', data: n });
    const events = slow.take();
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe(RESYNC_EVENT);
    expect(events[0]!.id).toBe(8);
    expect(fast.take()).toHaveLength(8);
  });

  it('wakes a listener once per batch and forgets closed subscribers', async () => {
    const bus = createInProcessEventBus();
    const subscription = bus.subscribe('s');
    let wakes = 0;
    subscription.onReady(() => {
      wakes++;
    });
    bus.publish('s', { type: 'e', data: 1 });
    bus.publish('s', { type: 'e', data: 2 });
    await Promise.resolve();
    expect(wakes).toBe(1);
    subscription.close();
    expect(bus.subscriberCount('s')).toBe(0);
  });
});
