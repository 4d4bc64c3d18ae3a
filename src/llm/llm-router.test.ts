import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { CircuitBreaker } from './llm-breaker.ts';
import { AdaptiveLimiter } from './llm-limiter.ts';
import { ProviderFailure } from './llm-provider.ts';
import { FakeClock, type FakeStep, ScriptedProvider } from './llm-provider-fake.ts';
import {
  type AttemptOutcome,
  type RouteFailure,
  type RouterEvent,
  type RouteTarget,
  route,
  type Timeouts,
} from './llm-router.ts';

const policy = {
  maxAttempts: 3,
  backoff: { baseMs: 500, capMs: 20_000, maxRetryAfterMs: 60_000 },
};
const timeouts: Timeouts = { firstChunkMs: 5_000, idleMs: 5_000, totalMs: 120_000 };

function target(
  steps: FakeStep[],
  clock: FakeClock,
  model = 'model-a',
): RouteTarget & { provider: ScriptedProvider; breaker: CircuitBreaker } {
  return {
    providerRef: `ref-${model}`,
    kind: 'openai',
    provider: new ScriptedProvider(steps),
    model,
    limiter: new AdaptiveLimiter({ maxConcurrency: 8, requestsPerMinute: undefined }, clock),
    breaker: new CircuitBreaker({ failureThreshold: 3, openMs: 30_000, maxOpenMs: 300_000 }, clock),
  };
}

const request = {
  messages: [{ role: 'user' as const, content: 'hi' }],
  parameters: { maxOutputTokens: 50 },
  outputSchema: undefined,
  stream: true,
};

async function run(
  targets: RouteTarget[],
  clock: FakeClock,
  options: { signal?: AbortSignal; timeouts?: Timeouts } = {},
) {
  const events: RouterEvent[] = [];
  const outcomes: AttemptOutcome[] = [];
  let error: unknown;
  try {
    for await (const event of route(request, targets, {
      policy,
      timeouts: options.timeouts ?? timeouts,
      signal: options.signal,
      clock,
      hooks: { afterAttempt: (outcome) => outcomes.push(outcome) },
    })) {
      events.push(event);
    }
  } catch (caught) {
    error = caught;
  }
  return { events, outcomes, error: error as RouteFailure | undefined };
}

const failure = (kind: ConstructorParameters<typeof ProviderFailure>[0], retryAfterMs?: number) =>
  new ProviderFailure(kind, `test ${kind}`, retryAfterMs === undefined ? {} : { retryAfterMs });

describe('route', () => {
  it('answers on the first attempt without waiting', async () => {
    const clock = new FakeClock();
    const a = target([{ answer: 'hello there' }], clock);
    const { events, outcomes } = await run([a], clock);
    expect(events.map((e) => e.type)).toEqual(['text-delta', 'text-delta', 'finish']);
    expect(outcomes.map((o) => o.status)).toEqual(['ok']);
    expect(clock.sleeps).toEqual([]);
  });

  it('honours Retry-After as a floor on the retry delay', async () => {
    const clock = new FakeClock();
    clock.randomValue = 0; // jitter adds nothing: the wait is exactly Retry-After
    const a = target([{ fail: failure('rate-limited', 7_000) }, { answer: 'ok' }], clock);
    const { outcomes, error } = await run([a], clock);
    expect(error).toBeUndefined();
    expect(clock.sleeps).toEqual([7_000]);
    expect(outcomes.map((o) => o.status)).toEqual(['error', 'ok']);
    expect(outcomes[0]?.failure?.kind).toBe('rate-limited');
  });

  it('backs off with full jitter, doubling the ceiling each retry', async () => {
    const clock = new FakeClock();
    clock.randomValue = 0.999;
    const a = target([{ fail: failure('server-error') }], clock);
    const { error, outcomes } = await run([a], clock);
    expect(outcomes).toHaveLength(3);
    // ceilings 500, 1000 → random(0.999) · ceiling
    expect(clock.sleeps).toEqual([499, 999]);
    expect(error?.failure.kind).toBe('server-error');
    expect(error?.attempts).toBe(3);
  });

  it.each([
    'authentication',
    'permission',
    'model-not-found',
    'bad-request',
    'content-filter',
  ] as const)('stops at once on a final %s error', async (kind) => {
    const clock = new FakeClock();
    const a = target([{ fail: failure(kind) }], clock);
    const b = target([{ answer: 'fallback' }], clock, 'model-b');
    const { error, outcomes } = await run([a, b], clock);
    expect(outcomes).toHaveLength(1);
    expect(error?.failure.kind).toBe(kind);
    expect(b.provider.calls).toHaveLength(0);
  });

  it('does not wait for a Retry-After longer than the configured maximum', async () => {
    const clock = new FakeClock();
    const a = target([{ fail: failure('rate-limited', 3_600_000) }], clock);
    const { error, outcomes } = await run([a], clock);
    expect(outcomes).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
    expect(error?.failure.retryAfterMs).toBe(3_600_000);
  });

  it('falls back to the next model after the retries are spent', async () => {
    const clock = new FakeClock();
    const a = target([{ fail: failure('overloaded') }], clock);
    const b = target([{ answer: 'from b' }], clock, 'model-b');
    const { events, outcomes } = await run([a, b], clock);
    expect(outcomes.map((o) => [o.info.target.model, o.status])).toEqual([
      ['model-a', 'error'],
      ['model-a', 'error'],
      ['model-a', 'error'],
      ['model-b', 'ok'],
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'finish', text: 'from b' });
  });

  it('announces a restart when a failed attempt had streamed output, and keeps only the final text', async () => {
    const clock = new FakeClock();
    const a = target(
      [{ fail: failure('network'), afterChunks: ['half ', 'an '] }, { answer: 'whole answer' }],
      clock,
    );
    const { events } = await run([a], clock);
    expect(events.map((e) => e.type)).toEqual([
      'text-delta',
      'text-delta',
      'attempt-restart',
      'text-delta',
      'text-delta',
      'finish',
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'finish', text: 'whole answer' });
  });

  it('times out a hung first chunk with a timeout failure and aborts the request', async () => {
    const clock = new FakeClock();
    const a = target([{ hang: true }], clock);
    const { error, outcomes } = await run([a], clock, {
      timeouts: { firstChunkMs: 20, idleMs: 1_000, totalMs: 60_000 },
    });
    expect(error?.failure.kind).toBe('timeout');
    expect(error?.failure.message).toMatch(/first-chunk timeout, 20 ms/);
    expect(outcomes.every((o) => o.status === 'timeout')).toBe(true);
    expect(a.provider.calls.every((call) => call.aborted)).toBe(true);
  });

  it('times out a stream that stalls between chunks', async () => {
    const clock = new FakeClock();
    const a = target([{ hang: true, afterChunks: ['one '] }], clock);
    const { error } = await run([a], clock, {
      timeouts: { firstChunkMs: 1_000, idleMs: 20, totalMs: 60_000 },
    });
    expect(error?.failure.message).toMatch(/idle timeout, 20 ms/);
  });

  it('propagates the caller abort to the provider request and rethrows the reason', async () => {
    const clock = new FakeClock();
    const a = target([{ hang: true }], clock);
    const controller = new AbortController();
    // The user cancels once the provider works on the request (it hangs until aborted).
    void eventually(
      () => a.provider.calls.length,
      (calls) => calls > 0,
      {
        what: 'the provider call',
      },
    ).then(() => controller.abort(new Error('user cancelled')));
    const { error, outcomes } = await run([a], clock, { signal: controller.signal });
    expect((error as unknown as Error).message).toBe('user cancelled');
    expect(outcomes.map((o) => o.status)).toEqual(['aborted']);
    expect(a.provider.calls[0]?.aborted).toBe(true);
  });

  it('closes the request when the consumer stops reading mid-stream', async () => {
    const clock = new FakeClock();
    const a = target([{ answer: 'a b c d e f', chunkDelayMs: 1 }], clock);
    const outcomes: AttemptOutcome[] = [];
    for await (const event of route(request, [a], {
      policy,
      timeouts,
      signal: undefined,
      clock,
      hooks: { afterAttempt: (outcome) => outcomes.push(outcome) },
    })) {
      if (event.type === 'text-delta') break;
    }
    expect(outcomes.map((o) => [o.status, o.text])).toEqual([['aborted', 'a ']]);
    expect(a.provider.calls[0]?.aborted).toBe(true);
    expect(a.limiter.inFlight).toBe(0);
  });
});

describe('circuit breaker in the router', () => {
  it('opens after repeated failures, fails fast, half-opens after the cool-down and closes on success', async () => {
    const clock = new FakeClock();
    const a = target(
      [
        { fail: failure('server-error') },
        { fail: failure('server-error') },
        { fail: failure('server-error') },
        { answer: 'recovered' },
      ],
      clock,
    );
    const first = await run([a], clock);
    expect(first.outcomes).toHaveLength(3);
    expect(a.breaker.state).toBe('open');

    const fast = await run([a], clock);
    expect(fast.outcomes).toHaveLength(0);
    expect(fast.error?.failure.kind).toBe('circuit-open');
    expect(a.provider.calls).toHaveLength(3);

    clock.advance(30_000);
    expect(a.breaker.state).toBe('half-open');
    const probe = await run([a], clock);
    expect(probe.outcomes.map((o) => o.status)).toEqual(['ok']);
    expect(a.breaker.state).toBe('closed');
  });

  it('retries a dropped keep-alive connection without counting it against the provider', async () => {
    const clock = new FakeClock();
    const dropped = new ProviderFailure('network', 'dropped', { connectionDropped: true });
    const a = target([{ fail: dropped }, { fail: dropped }, { answer: 'ok' }], clock);
    const { outcomes } = await run([a], clock);
    expect(outcomes.map((o) => o.status)).toEqual(['error', 'error', 'ok']);
    expect(a.breaker.recentFailures).toBe(0);
  });

  it('skips a target whose circuit is open and uses the fallback', async () => {
    const clock = new FakeClock();
    const a = target([{ answer: 'never' }], clock);
    for (let i = 0; i < 3; i++) a.breaker.onFailure();
    const b = target([{ answer: 'fallback' }], clock, 'model-b');
    const { events, outcomes } = await run([a, b], clock);
    expect(a.provider.calls).toHaveLength(0);
    expect(outcomes.map((o) => o.info.target.model)).toEqual(['model-b']);
    expect(events.at(-1)).toMatchObject({ type: 'finish', text: 'fallback' });
  });
});
