import { describe, expect, it } from 'vitest';
import { batchBarrier, slidingWindow } from './generation-scheduler.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function* itemsOf<T>(list: T[]) {
  for (const item of list) yield item;
}

async function measure(
  scheduler: typeof slidingWindow,
  latencies: number[],
  concurrency: number,
  signal = new AbortController().signal,
) {
  const started = new Map<number, number>();
  const t0 = Date.now();
  let inFlight = 0;
  let peak = 0;
  const runs: number[] = [];
  const result = await scheduler({
    items: itemsOf(latencies.map((latency, index) => ({ latency, index }))),
    concurrency: () => concurrency,
    signal,
    run: async ({ latency, index }) => {
      started.set(index, Date.now() - t0);
      inFlight++;
      peak = Math.max(peak, inFlight);
      runs.push(index);
      await sleep(latency);
      inFlight--;
    },
  });
  return { started, peak, runs, result, elapsed: Date.now() - t0 };
}

describe('sliding window', () => {
  it('starts the next item as soon as any one ends, never waiting for the slowest', async () => {
    const { started, peak } = await measure(slidingWindow, [40, 300, 300, 10, 10, 10], 3);
    expect(peak).toBe(3);
    // Item 3 takes the slot item 0 freed at ~40 ms, long before the 300 ms items end.
    expect(started.get(3)!).toBeLessThan(150);
  });

  it('a batch barrier (the seed system) waits for the slowest of each batch', async () => {
    const { started } = await measure(batchBarrier, [40, 300, 300, 10, 10, 10], 3);
    expect(started.get(3)!).toBeGreaterThanOrEqual(290);
  });

  it('runs every item once, never above the cap', async () => {
    const latencies = Array.from({ length: 100 }, (_, index) => (index * 7) % 13);
    const { runs, peak, result } = await measure(slidingWindow, latencies, 8);
    expect(peak).toBeLessThanOrEqual(8);
    expect(runs.sort((a, b) => a - b)).toEqual(latencies.map((_, index) => index));
    expect(result).toEqual({ started: 100, exhausted: true });
  });

  it('stops taking items when signalled, and waits for the ones in flight', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const { result, elapsed } = await measure(
      slidingWindow,
      Array(100).fill(30),
      4,
      controller.signal,
    );
    expect(result.exhausted).toBe(false);
    expect(result.started).toBeLessThanOrEqual(12);
    expect(elapsed).toBeGreaterThanOrEqual(55);
  });
});
