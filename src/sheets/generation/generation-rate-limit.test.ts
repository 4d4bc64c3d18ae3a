import { describe, expect, it } from 'vitest';
import { AppError } from '../../platform/app-error.ts';
import { RateLimitWait, rateLimitNotice } from './generation-rate-limit.ts';

// A fake clock: time moves only when the test says so.
function fakeClock() {
  let now = 1_000_000;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const refusal = (retryAfterMs?: number) =>
  rateLimitNotice(
    new AppError('RATE_LIMITED', 'openai rate limited the request (HTTP 429)', {
      details: {
        provider: 'prov-1',
        providerName: 'Fake',
        providerMessage: 'Rate limit reached (fake-llm).',
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      },
    }),
  );

/** One storm round: every call of the pass refused, then the run waits it out. */
function round(
  wait: RateLimitWait,
  clock: ReturnType<typeof fakeClock>,
  ...notices: ReturnType<typeof refusal>[]
) {
  for (const notice of notices) wait.refused(notice);
  const delay = wait.remaining();
  clock.advance(delay);
  wait.waited();
  return delay;
}

describe('rate-limit wait', () => {
  it('reads the provider, its words and its Retry-After from the error', () => {
    expect(refusal(5)).toEqual({
      retryAfterMs: 5,
      provider: 'prov-1',
      providerName: 'Fake',
      message: 'Rate limit reached (fake-llm).',
    });
    expect(refusal().retryAfterMs).toBeUndefined();
  });

  it('deep in a storm of short Retry-Afters, a refusal without one waits what the provider asked, not 2^n seconds', () => {
    const clock = fakeClock();
    const wait = new RateLimitWait(clock.now);
    // Seven rounds of 429s, each naming Retry-After 5 ms: the run waits 5 ms each time.
    for (let index = 0; index < 7; index++)
      expect(round(wait, clock, refusal(5), refusal(5))).toBe(5);
    // Then a refusal that names none (an in-stream rate_limit event, a call refused before it
    // reached the provider). It used to wait min(60 s, 1 s · 2^7) = 60 s.
    expect(round(wait, clock, refusal())).toBe(5);
    expect(round(wait, clock, refusal(), refusal(5))).toBe(5);
  });

  it('doubles from 1 s to 60 s only while the provider names no Retry-After, and starts over after a call gets through', () => {
    const clock = fakeClock();
    const wait = new RateLimitWait(clock.now);
    const delays = Array.from({ length: 8 }, () => round(wait, clock, refusal(), refusal()));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    wait.passed();
    expect(round(wait, clock, refusal())).toBe(1_000);
  });

  it('waits for the longest ask of the calls refused in one pass', () => {
    const clock = fakeClock();
    const wait = new RateLimitWait(clock.now);
    expect(round(wait, clock, refusal(3_000), refusal(500), refusal(2_000))).toBe(3_000);
    expect(wait.last?.retryAfterMs).toBe(2_000);
    // Time moved past the last wait: a new refusal counts from now.
    clock.advance(10_000);
    expect(round(wait, clock, refusal(250))).toBe(250);
  });
});
