import { afterAll, describe, expect, it, vi } from 'vitest';
import { uuidv7 } from '../platform/ids.ts';
import { createLogger } from '../platform/logger.ts';
import { systemClock } from './llm-clock.ts';
import { SharedBreaker } from './llm-shared-breaker.ts';
import { connectSharedRedis, type SharedRedis } from './llm-shared-redis.ts';

// The shared breaker's `allow()` on a real Redis: callers asking at once share a round trip,
// with the answers separate calls would have had (issue #20's fill figure).
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ level: 'silent', format: 'json' });
const OPEN_MS = 10_000;
const opened: SharedRedis[] = [];
afterAll(async () => {
  await Promise.all(opened.map((shared) => shared.close()));
});

function breaker(model = 'gpt-4o-mini') {
  const shared = connectSharedRedis(
    { redisUrl: REDIS_URL, keyPrefix: `test:llm-breaker:${uuidv7()}`, pollMs: 20 },
    logger,
  );
  opened.push(shared);
  const scope = uuidv7();
  const settings = { failureThreshold: 2, openMs: OPEN_MS, maxOpenMs: 60_000 };
  const hash = shared.key(scope, `breaker:${Buffer.from(model).toString('base64url')}`);
  return {
    shared,
    hash,
    breaker: new SharedBreaker(shared, scope, model, settings, systemClock),
  };
}

describe('SharedBreaker allow()', () => {
  it('64 callers asking at once share two round trips and are all let through', async () => {
    const { shared, breaker: shared64 } = breaker();
    await shared.ready();
    const scripts = vi.spyOn(shared.redis, 'evalsha');
    const decisions = await Promise.all(Array.from({ length: 64 }, () => shared64.allow()));
    expect(decisions.every((decision) => decision.allowed)).toBe(true);
    // The first asks alone at once; the 63 that came meanwhile share the next answer.
    expect(scripts).toHaveBeenCalledTimes(2);
  });

  it('half-open: of ten callers asking at once, exactly one gets the probe', async () => {
    const { shared, hash, breaker: halfOpen } = breaker();
    await shared.ready();
    // Opened long enough ago that the next caller may probe.
    await shared.redis.hset(hash, {
      state: 'open',
      openedAt: Date.now() - OPEN_MS - 1,
      openFor: OPEN_MS,
      probeUntil: 0,
    });
    const decisions = await Promise.all(Array.from({ length: 10 }, () => halfOpen.allow()));
    expect(decisions.filter((decision) => decision.allowed)).toEqual([
      { allowed: true, probe: true },
    ]);
    expect(decisions.filter((decision) => !decision.allowed)).toHaveLength(9);
    expect(halfOpen.state).toBe('half-open');
  });

  it('an open circuit refuses every caller of the group with the time left', async () => {
    const { shared, hash, breaker: open } = breaker();
    await shared.ready();
    await shared.redis.hset(hash, {
      state: 'open',
      openedAt: Date.now(),
      openFor: OPEN_MS,
      probeUntil: 0,
    });
    const decisions = await Promise.all(Array.from({ length: 5 }, () => open.allow()));
    for (const decision of decisions) {
      expect(decision.allowed).toBe(false);
      if (!decision.allowed) expect(decision.retryInMs).toBeGreaterThan(0);
    }
  });

  it('outcomes reported while a report is on its way go in one round trip, in order', async () => {
    const { shared, hash, breaker: reported } = breaker();
    await shared.ready();
    const scripts = vi.spyOn(shared.redis, 'evalsha');
    // Two successes, then two failures: the threshold (2) and half of the window are reached
    // only when every outcome is weighed.
    reported.onSuccess();
    reported.onSuccess();
    reported.onFailure();
    reported.onFailure();
    // Asked after the outcomes: it waits for them to be in, and sees the circuit they opened.
    const decision = await reported.allow();
    expect(decision.allowed).toBe(false);
    // The first success alone at once, the three that came meanwhile in the next; then ALLOW.
    expect(scripts).toHaveBeenCalledTimes(3);
    expect(await shared.redis.hget(hash, 'state')).toBe('open');
  });

  it('outcomes of one report are weighed in the order they were reported', async () => {
    const { shared, hash, breaker: ordered } = breaker();
    await shared.ready();
    ordered.onSuccess();
    // These three go together: the two failures open the circuit, the success after them
    // closes it again (the other way round, the circuit would be open).
    ordered.onFailure();
    ordered.onFailure();
    ordered.onSuccess();
    expect((await ordered.allow()).allowed).toBe(true);
    expect(await shared.redis.hget(hash, 'state')).toBe('closed');
    expect(await shared.redis.lrange(`${hash}:recent`, 0, -1)).toEqual(['1']);
  });
});
