import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdaptiveLimiter, LimiterTimeoutError, type Permit } from './llm-limiter.ts';

describe('AdaptiveLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never lets more than the cap in flight and serves waiters first come, first served', async () => {
    const limiter = new AdaptiveLimiter({ maxConcurrency: 2, requestsPerMinute: undefined });
    const a = await limiter.acquire();
    await limiter.acquire();
    const order: string[] = [];
    const c = limiter.acquire().then((permit) => {
      order.push('c');
      return permit;
    });
    const d = limiter.acquire().then(() => order.push('d'));
    await Promise.resolve();
    expect(limiter.inFlight).toBe(2);
    expect(limiter.waiting).toBe(2);
    a.release('success');
    (await c).release('success');
    await d;
    expect(order).toEqual(['c', 'd']);
  });

  it('halves once per generation under a 429 storm, then grows back slowly to the cap', async () => {
    const limiter = new AdaptiveLimiter({ maxConcurrency: 16, requestsPerMinute: undefined });
    const storm: Permit[] = [];
    for (let i = 0; i < 16; i++) storm.push(await limiter.acquire());
    // All 16 were in flight when the first 429 came back: one halving, not sixteen.
    for (const permit of storm) permit.release('rate-limited');
    expect(limiter.limit).toBe(8);
    // The next round is rate limited too: halves again.
    const round: Permit[] = [];
    for (let i = 0; i < 8; i++) round.push(await limiter.acquire());
    for (const permit of round) permit.release('rate-limited');
    expect(limiter.limit).toBe(4);
    const limits: number[] = [];
    for (let i = 0; i < 200; i++) {
      (await limiter.acquire()).release('success');
      limits.push(limiter.limit);
    }
    // Additive increase: about +1 per `limit` successes, never above the cap.
    expect(limits.indexOf(5)).toBe(4);
    expect(limits.indexOf(8)).toBeGreaterThan(15);
    expect(Math.max(...limits)).toBe(16);
  });

  it('never goes below one', async () => {
    const limiter = new AdaptiveLimiter({ maxConcurrency: 2, requestsPerMinute: undefined });
    for (let i = 0; i < 5; i++) (await limiter.acquire()).release('rate-limited');
    expect(limiter.limit).toBe(1);
  });

  it('pauses new attempts for the Retry-After of a 429', async () => {
    const limiter = new AdaptiveLimiter({ maxConcurrency: 4, requestsPerMinute: undefined });
    (await limiter.acquire()).release('rate-limited', 2_000);
    let granted = false;
    const next = limiter.acquire().then((permit) => {
      granted = true;
      return permit;
    });
    await vi.advanceTimersByTimeAsync(1_999);
    expect(granted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(granted).toBe(true);
    (await next).release('success');
  });

  it('spaces requests to the requests-per-minute limit after the burst allowance', async () => {
    const limiter = new AdaptiveLimiter({ maxConcurrency: 100, requestsPerMinute: 60 });
    // 60 rpm → a bucket of 10 requests, refilled at one per second.
    for (let i = 0; i < 10; i++) (await limiter.acquire()).release('success');
    let granted = 0;
    for (let i = 0; i < 3; i++) {
      limiter.acquire().then((permit) => {
        granted += 1;
        permit.release('success');
      });
    }
    await vi.advanceTimersByTimeAsync(999);
    expect(granted).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(granted).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(granted).toBe(3);
  });

  it('drops a waiter on abort and on its deadline', async () => {
    const limiter = new AdaptiveLimiter({ maxConcurrency: 1, requestsPerMinute: undefined });
    const held = await limiter.acquire();
    const controller = new AbortController();
    const aborted = limiter.acquire(controller.signal);
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    const late = limiter.acquire(undefined, Date.now() + 100);
    const expectation = expect(late).rejects.toBeInstanceOf(LimiterTimeoutError);
    await vi.advanceTimersByTimeAsync(100);
    await expectation;
    expect(limiter.waiting).toBe(0);
    held.release('success');
    expect(limiter.inFlight).toBe(0);
  });

  it('clamps the limit when the cap is lowered', async () => {
    const limiter = new AdaptiveLimiter({ maxConcurrency: 10, requestsPerMinute: undefined });
    limiter.configure({ maxConcurrency: 3, requestsPerMinute: undefined });
    expect(limiter.limit).toBe(3);
  });

  it('a raised cap applies to the next acquire at once, even after 429s had lowered the limit', async () => {
    const limiter = new AdaptiveLimiter({ maxConcurrency: 10, requestsPerMinute: undefined });
    const old: Permit[] = [];
    for (let i = 0; i < 10; i++) old.push(await limiter.acquire());
    old[0]!.release('rate-limited');
    expect(limiter.limit).toBe(5);
    limiter.configure({ maxConcurrency: 64, requestsPerMinute: undefined });
    expect(limiter.limit).toBe(64);
    // The 429s of requests sent under the old cap do not halve the new one.
    for (const permit of old.slice(1)) permit.release('rate-limited');
    expect(limiter.limit).toBe(64);
    const held: Permit[] = [];
    for (let i = 0; i < 64; i++) held.push(await limiter.acquire());
    expect(limiter.inFlight).toBe(64);
    let granted = false;
    const next = limiter.acquire().then((permit) => {
      granted = true;
      return permit;
    });
    await Promise.resolve();
    expect(granted).toBe(false);
    held[0]!.release('success');
    (await next).release('success');
    expect(granted).toBe(true);
    // A 429 under the new cap halves it as usual.
    held[1]!.release('rate-limited');
    expect(limiter.limit).toBe(32);
  });

  it('an unchanged cap keeps the learned limit', async () => {
    const limiter = new AdaptiveLimiter({ maxConcurrency: 16, requestsPerMinute: undefined });
    (await limiter.acquire()).release('rate-limited');
    expect(limiter.limit).toBe(8);
    limiter.configure({ maxConcurrency: 16, requestsPerMinute: 600 });
    expect(limiter.limit).toBe(8);
  });
});
