import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { uuidv7 } from '../platform/ids.ts';
import { type Clock, systemClock } from './llm-clock.ts';
import type { LlmModule } from './llm-module.ts';
import type { LlmCallRequest } from './llm-service.ts';
import { SharedLimiter } from './llm-shared-limiter.ts';
import { FAKE_API_KEY, failureOf, llmTestEnvPerSuite } from './llm-test-env.ts';

// Several servers of one deployment: LLM modules in this process, each with its own Redis
// connections, sharing one database and one fake provider that counts concurrent requests.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const LEASE_MS = 30_000;

/** Frozen time that the test moves: leases and Retry-After pauses end only when told. */
class ManualClock implements Clock {
  at = Date.now();
  now = () => this.at;
  sleep = (ms: number, signal?: AbortSignal) => systemClock.sleep(ms, signal);
  random = () => 0.5;
  advance(ms: number): void {
    this.at += ms;
  }
}

const clock = new ManualClock();
const env = llmTestEnvPerSuite({
  clock,
  // Each run its own keys; waiters ask Redis at least every 20 ms.
  sharedLimits: { redisUrl: REDIS_URL, keyPrefix: `test:llm:${uuidv7()}`, pollMs: 20 },
  config: { breakerFailures: 2, maxAttempts: 2, maxRetryAfterMs: 10_000 },
});
const openAborts: AbortController[] = [];
afterAll(() => {
  for (const controller of openAborts) controller.abort();
});

/** A fresh provider (so fresh shared state) with the given cap, seen by every server. */
async function provider(maxConcurrency: number, requestsPerMinute?: number): Promise<string> {
  const created = await env.module.admin.createProvider(env.owner, env.projectId, {
    name: `capped ${uuidv7()}`,
    kind: 'openai',
    baseUrl: `${env.fake.url}/v1`,
    apiKey: FAKE_API_KEY,
    maxConcurrency,
    ...(requestsPerMinute ? { requestsPerMinute } : {}),
  });
  return created.id;
}

const request = (providerId: string, model: string, signal?: AbortSignal): LlmCallRequest => ({
  actor: env.owner,
  projectId: env.projectId,
  feature: 'sheet-cell',
  provider: providerId,
  model,
  messages: [{ role: 'user', content: `row ${uuidv7()}` }],
  parameters: { maxOutputTokens: 20 },
  cache: 'off',
  ...(signal ? { signal } : {}),
});

/** The server's shared limiter for the provider: it has asked Redis and been told to wait. */
async function refusedOn(server: LlmModule, providerId: string): Promise<SharedLimiter> {
  return eventually(
    () => server.registry.limiter(providerId),
    (limiter) => limiter instanceof SharedLimiter && limiter.refusals > 0 && limiter.waiting === 1,
    { what: 'a call waiting after Redis refused it a slot' },
  ) as Promise<SharedLimiter>;
}

describe('LLM limits shared by several servers through Redis', () => {
  it('three servers together never send the provider more than its cap at once', async () => {
    const providerId = await provider(4);
    const servers = [env.module, env.openPeer(), env.openPeer()];
    const results = await Promise.all(
      Array.from({ length: 36 }, (_, index) =>
        (servers[index % 3] as LlmModule).llm.generate(
          request(providerId, 'gpt-4o-mini@latency=30'),
        ),
      ),
    );
    expect(results.every((result) => result.text.length > 0)).toBe(true);
    const stats = env.fake.stats();
    expect(stats.completed).toBe(36);
    // Each server alone would allow 4: without sharing up to 12 would be open at once.
    expect(stats.maxInFlight).toBeLessThanOrEqual(4);
    expect(stats.maxInFlight).toBeGreaterThanOrEqual(2);
  });

  it('gives back the slots of a server that died holding them once their leases expire', async () => {
    const providerId = await provider(2);
    const dying = env.openPeer();
    const survivor = env.openPeer();
    const held = Array.from({ length: 2 }, () => {
      const controller = new AbortController();
      openAborts.push(controller);
      return dying.llm
        .generate(request(providerId, 'gpt-4o-mini@hang', controller.signal))
        .catch(() => undefined);
    });
    await env.fake.waitFor((_, requests) => requests.length === 2, 60_000);
    dying.kill(); // no release, no renewal: its two leases stay in Redis until they expire

    const next = survivor.llm.generate(request(providerId, 'gpt-4o-mini'));
    await refusedOn(survivor, providerId);
    expect(env.fake.stats().received).toBe(2);

    clock.advance(LEASE_MS + 1);
    const result = await next;
    expect(result.text.length).toBeGreaterThan(0);
    expect(env.fake.stats().received).toBe(3);
    for (const controller of openAborts.splice(0)) controller.abort();
    await Promise.all(held);
    await eventually(
      () => env.fake.inFlight(),
      (n) => n === 0,
      { what: 'hung requests closed' },
    );
  });

  it('a 429 with Retry-After seen by one server makes every server wait it out', async () => {
    const providerId = await provider(8);
    const [first, second] = [env.openPeer(), env.openPeer()];
    // 60 s is past maxRetryAfterMs: the first server's call fails rather than waiting.
    const refused = await failureOf(
      first.llm.generate(request(providerId, 'gpt-4o-mini@status=429,retry-after=60')),
    );
    expect(refused.code).toBe('RATE_LIMITED');
    expect(env.fake.stats().received).toBe(1);

    const later = second.llm.generate(request(providerId, 'gpt-4o-mini'));
    const limiter = await refusedOn(second, providerId);
    expect(limiter.pausedUntil).toBe(clock.now() + 60_000);
    expect(env.fake.stats().received).toBe(1);

    clock.advance(60_000);
    expect((await later).text.length).toBeGreaterThan(0);
    expect(env.fake.stats().received).toBe(2);
  });

  it('a circuit one server opens is open on the others, without a request sent', async () => {
    const providerId = await provider(8);
    const [first, second] = [env.openPeer(), env.openPeer()];
    const model = 'gpt-4o-mini@status=500';
    // Two attempts, two 500s: the breaker (2 failures) opens.
    await failureOf(first.llm.generate(request(providerId, model)));
    expect(env.fake.stats().received).toBe(2);

    const refused = await failureOf(second.llm.generate(request(providerId, model)));
    expect(refused.code).toBe('PROVIDER_UNAVAILABLE');
    expect(refused.message).toMatch(/last error/);
    expect(env.fake.stats().received).toBe(2);
    expect(second.registry.breaker(providerId, model)?.state).toBe('open');
  });

  it('shares one requests-per-minute bucket: ten seconds of traffic, then one per refill', async () => {
    const providerId = await provider(100, 60); // bucket of 10, one more per second
    const servers = [env.openPeer(), env.openPeer()];
    const calls = Array.from({ length: 12 }, (_, index) =>
      (servers[index % 2] as LlmModule).llm.generate(request(providerId, 'gpt-4o-mini')),
    );
    await env.fake.waitFor(
      (_, requests) => requests.filter((r) => r.completed).length === 10,
      60_000,
    );
    await refusedOnAny(servers, providerId);
    expect(env.fake.stats().received).toBe(10);

    clock.advance(2_000);
    await Promise.all(calls);
    expect(env.fake.stats().received).toBe(12);
  });

  it("falls back to each server's own limits when Redis does not answer, and says so", async () => {
    const providerId = await provider(2);
    const server = env.openPeer({ redisUrl: 'redis://127.0.0.1:1', pollMs: 20 });
    const results = await Promise.all(
      Array.from({ length: 4 }, () => server.llm.generate(request(providerId, 'gpt-4o-mini'))),
    );
    expect(results).toHaveLength(4);
    expect(env.fake.stats().maxInFlight).toBeLessThanOrEqual(2);
    expect(env.logs.text()).toMatch(/shared LLM limits \(Redis\) unreachable/);
  });
});

async function refusedOnAny(servers: LlmModule[], providerId: string): Promise<void> {
  await eventually(
    () =>
      servers.some((server) => {
        const limiter = server.registry.limiter(providerId);
        return limiter instanceof SharedLimiter && limiter.refusals > 0;
      }),
    Boolean,
    { what: 'a server told to wait for a token' },
  );
}
