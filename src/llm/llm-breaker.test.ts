import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './llm-backoff.ts';
import { CircuitBreaker } from './llm-breaker.ts';
import { FakeClock } from './llm-provider-fake.ts';

describe('CircuitBreaker', () => {
  const settings = { failureThreshold: 3, openMs: 1_000, maxOpenMs: 4_000 };

  it('opens after the threshold of failures in a row', () => {
    const breaker = new CircuitBreaker(settings, new FakeClock());
    breaker.onFailure();
    breaker.onFailure();
    expect(breaker.state).toBe('closed');
    breaker.onFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.allow()).toEqual({ allowed: false, retryInMs: 1_000 });
  });

  it('does not open on a few failures among many successes (concurrent traffic), but does when they reach half', () => {
    const breaker = new CircuitBreaker({ ...settings, window: 20 }, new FakeClock());
    for (let i = 0; i < 15; i++) breaker.onSuccess();
    for (let i = 0; i < 5; i++) breaker.onFailure();
    expect(breaker.state).toBe('closed'); // 5 of 20
    for (let i = 0; i < 4; i++) breaker.onFailure();
    expect(breaker.state).toBe('closed'); // 9 of 20
    breaker.onFailure();
    expect(breaker.state).toBe('open'); // 10 of 20
  });

  it('lets one probe through when half-open and doubles the open time after a failed probe', () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker(settings, clock);
    for (let i = 0; i < 3; i++) breaker.onFailure();
    clock.advance(1_000);
    expect(breaker.state).toBe('half-open');
    expect(breaker.allow()).toEqual({ allowed: true, probe: true });
    expect(breaker.allow().allowed).toBe(false); // one probe at a time
    breaker.onFailure();
    expect(breaker.state).toBe('open');
    clock.advance(1_999);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.allow()).toEqual({ allowed: true, probe: true });
    breaker.onSuccess();
    expect(breaker.state).toBe('closed');
  });

  it('caps the doubled open time', () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker(settings, clock);
    for (let i = 0; i < 3; i++) breaker.onFailure();
    for (let round = 0; round < 5; round++) {
      clock.advance(10_000);
      breaker.allow();
      breaker.onFailure();
    }
    expect(breaker.allow()).toEqual({ allowed: false, retryInMs: 4_000 });
  });

  it('frees the probe slot when a probe is cancelled', () => {
    const clock = new FakeClock();
    const breaker = new CircuitBreaker(settings, clock);
    for (let i = 0; i < 3; i++) breaker.onFailure();
    clock.advance(1_000);
    const decision = breaker.allow();
    breaker.onNeutral(decision.allowed && decision.probe);
    expect(breaker.allow()).toEqual({ allowed: true, probe: true });
  });
});

describe('backoffDelayMs', () => {
  const policy = { baseMs: 500, capMs: 4_000, maxRetryAfterMs: 60_000 };

  it.each([
    [1, 0.5, undefined, 250],
    [2, 0.5, undefined, 500],
    [3, 0.999, undefined, 1_998],
    [10, 0.999, undefined, 3_996], // capped at 4 s
    [1, 0, 3_000, 3_000], // Retry-After is a floor
    [1, 0.5, 3_000, 3_250], // plus a little jitter
  ] as const)(
    'retry %i, random %f, Retry-After %s → %i ms',
    (retry, random, retryAfter, expected) => {
      expect(backoffDelayMs(policy, retry, retryAfter, () => random)).toBe(expected);
    },
  );
});
