import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createLogger } from '../platform/logger.ts';
import { systemClock } from './llm-clock.ts';
import type { Permit } from './llm-limiter-queue.ts';
import { SharedLimiter } from './llm-shared-limiter.ts';
import { connectSharedRedis, type SharedRedis } from './llm-shared-redis.ts';

// The shared limiter's round trips on a real Redis (issue #20's fill figure): slots are taken
// and given back in batches, one round trip for many calls, and the cap still holds across
// servers. Each server here is its own pair of Redis connections, as in its own process.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ level: 'silent', format: 'json' });
const keyPrefix = `test:llm-limiter:${uuidv7()}`;
const opened: SharedRedis[] = [];
afterAll(async () => {
  await Promise.all(opened.map((shared) => shared.close()));
});

function server(): SharedRedis {
  const shared = connectSharedRedis({ redisUrl: REDIS_URL, keyPrefix, pollMs: 20 }, logger);
  opened.push(shared);
  return shared;
}

const limiterOn = (shared: SharedRedis, scope: string, maxConcurrency: number) =>
  new SharedLimiter(shared, scope, { maxConcurrency, requestsPerMinute: undefined }, systemClock);

const slotsHeld = (shared: SharedRedis, scope: string) =>
  shared.redis.zcard(shared.key(scope, 'slots'));

describe('SharedLimiter round trips', () => {
  it('serves 64 waiters in one round trip and takes their 64 slots back in one', async () => {
    const shared = server();
    const scope = uuidv7();
    const limiter = limiterOn(shared, scope, 64);
    const permits = await Promise.all(Array.from({ length: 64 }, () => limiter.acquire()));
    expect(limiter.roundTrips).toBe(1);
    expect(limiter.inFlight).toBe(64);
    expect(await slotsHeld(shared, scope)).toBe(64);

    for (const permit of permits) permit.release('success');
    expect(limiter.inFlight).toBe(0);
    await eventually(
      () => slotsHeld(shared, scope),
      (n) => n === 0,
      { what: 'every slot back in Redis' },
    );
    expect(limiter.roundTrips).toBe(2);
    limiter.close();
  });

  it('asks for no more than the free slots: the 65th waiter is refused until one comes back', async () => {
    const shared = server();
    const scope = uuidv7();
    const limiter = limiterOn(shared, scope, 64);
    let served = 0;
    const permits = Array.from({ length: 65 }, () =>
      limiter.acquire().then((permit) => {
        served++;
        return permit;
      }),
    );
    const first = await Promise.all(permits.slice(0, 64));
    await eventually(
      () => limiter.refusals,
      (n) => n > 0,
      { what: 'the 65th waiter refused' },
    );
    expect(served).toBe(64);
    expect(limiter.waiting).toBe(1);
    expect(await slotsHeld(shared, scope)).toBe(64);

    first[0]!.release('success');
    const last = await permits[64]!;
    expect(await slotsHeld(shared, scope)).toBe(64);
    for (const permit of [...first.slice(1), last]) permit.release('success');
    await eventually(
      () => slotsHeld(shared, scope),
      (n) => n === 0,
      { what: 'every slot back in Redis' },
    );
    limiter.close();
  });

  it('three servers asking for 64 slots each never hold more than the cap between them', async () => {
    const scope = uuidv7();
    const servers = [server(), server(), server()];
    const limiters = servers.map((shared) => limiterOn(shared, scope, 16));
    let held = 0;
    let peak = 0;
    // Each permit is held until the next turn of the event loop, then given back.
    const take = async (limiter: SharedLimiter) => {
      const permit: Permit = await limiter.acquire();
      held++;
      peak = Math.max(peak, held);
      await new Promise<void>((resolve) => setImmediate(resolve));
      held--;
      permit.release('success');
    };
    await Promise.all(
      limiters.flatMap((limiter) => Array.from({ length: 64 }, () => take(limiter))),
    );
    expect(peak).toBeLessThanOrEqual(16);
    expect(peak).toBeGreaterThanOrEqual(2);
    await eventually(
      () => slotsHeld(servers[0]!, scope),
      (n) => n === 0,
      { what: 'every slot back in Redis' },
    );
    for (const limiter of limiters) limiter.close();
  });

  it('a batch of 429s released together halves the limit once, as one 429 at a time would', async () => {
    const shared = server();
    const scope = uuidv7();
    const limiter = limiterOn(shared, scope, 8);
    const permits = await Promise.all(Array.from({ length: 4 }, () => limiter.acquire()));
    for (const permit of permits) permit.release('rate-limited');
    await eventually(
      () => slotsHeld(shared, scope),
      (n) => n === 0,
      { what: 'the four slots back in Redis' },
    );
    // One more round trip reads the shared state as every server sees it.
    (await limiter.acquire()).release('neutral');
    expect(limiter.limit).toBe(4);
    limiter.close();
  });
});
