import { describe, expect, it } from 'vitest';
import { batchBarrier, slidingWindow } from './generation-scheduler.ts';

async function* itemsOf<T>(list: T[]) {
  for (const item of list) yield item;
}

/** Lets every pending promise callback run (the schedulers use no timers of their own). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs a scheduler on a virtual clock: item i takes `latencies[i]` virtual ms. Time moves only
 * once the scheduler has done all it can, straight to the next item's end (or to `abortAt`),
 * so the figures are exact and do not depend on how busy the machine is.
 */
async function measure(
  scheduler: typeof slidingWindow,
  latencies: number[],
  concurrency: number,
  abortAt?: number,
) {
  const controller = new AbortController();
  const started = new Map<number, number>();
  const inFlight = new Map<number, { endsAt: number; end: () => void }>();
  let now = 0;
  let peak = 0;
  const runs: number[] = [];
  let finished = false;
  const scheduled = scheduler({
    items: itemsOf(latencies.map((latency, index) => ({ latency, index }))),
    concurrency: () => concurrency,
    signal: controller.signal,
    run: ({ latency, index }) =>
      new Promise<void>((end) => {
        started.set(index, now);
        runs.push(index);
        inFlight.set(index, { endsAt: now + latency, end });
        peak = Math.max(peak, inFlight.size);
      }),
  }).finally(() => {
    finished = true;
  });
  for (await settle(); !finished; await settle()) {
    const next = Math.min(...[...inFlight.values()].map((item) => item.endsAt));
    if (abortAt !== undefined && !controller.signal.aborted && abortAt <= next) {
      now = abortAt;
      controller.abort();
      continue;
    }
    now = next;
    for (const [index, item] of inFlight)
      if (item.endsAt <= now) {
        inFlight.delete(index);
        item.end();
      }
  }
  return { started, peak, runs, result: await scheduled, elapsed: now };
}

describe('sliding window', () => {
  it('starts the next item as soon as any one ends, never waiting for the slowest', async () => {
    const { started, peak } = await measure(slidingWindow, [40, 300, 300, 10, 10, 10], 3);
    expect(peak).toBe(3);
    // Item 3 takes the slot item 0 freed at 40 ms, long before the 300 ms items end.
    expect(started.get(3)!).toBeLessThan(150);
    expect(started.get(3)).toBe(40);
  });

  it('a batch barrier (the seed system) waits for the slowest of each batch', async () => {
    const { started } = await measure(batchBarrier, [40, 300, 300, 10, 10, 10], 3);
    expect(started.get(3)!).toBeGreaterThanOrEqual(290);
    expect(started.get(3)).toBe(300);
  });

  it('runs every item once, never above the cap', async () => {
    const latencies = Array.from({ length: 100 }, (_, index) => (index * 7) % 13);
    const { runs, peak, result } = await measure(slidingWindow, latencies, 8);
    expect(peak).toBeLessThanOrEqual(8);
    expect(runs.sort((a, b) => a - b)).toEqual(latencies.map((_, index) => index));
    expect(result).toEqual({ started: 100, exhausted: true });
  });

  it('stops taking items when signalled, and waits for the ones in flight', async () => {
    // Four 30 ms items at 0 and four more at 30; the stop at 50 lets those four end at 60.
    const { result, elapsed } = await measure(slidingWindow, Array(100).fill(30), 4, 50);
    expect(result.exhausted).toBe(false);
    expect(result.started).toBeLessThanOrEqual(12);
    expect(result.started).toBe(8);
    expect(elapsed).toBeGreaterThanOrEqual(55);
    expect(elapsed).toBe(60);
  });
});
