import { describe, expect, it } from 'vitest';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import { type Clock, systemClock } from './llm-clock.ts';
import type { LlmCallRequest, LlmStreamEvent } from './llm-service.ts';
import {
  actorFor,
  createOwnedProject,
  createUser,
  FAKE_API_KEY,
  failureOf,
  llmTestEnvPerSuite,
  usageRowsOf,
} from './llm-test-env.ts';

/** The real clock, recording every wait the router asks it for (ms). */
const waits: number[] = [];
const clock: Clock = {
  ...systemClock,
  sleep: (ms, signal) => {
    waits.push(ms);
    return systemClock.sleep(ms, signal);
  },
};
const env = llmTestEnvPerSuite({ clock });

const call = (overrides: Partial<LlmCallRequest> = {}): LlmCallRequest => ({
  actor: env.owner,
  projectId: env.projectId,
  feature: 'sheet-cell',
  entityIds: { datasetId: 'd1', rowId: '7' },
  provider: env.providers.openai,
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: `Summarise row ${Math.random()}` }],
  parameters: { maxOutputTokens: 50 },
  ...overrides,
});

const rowsOf = (callId: string) => usageRowsOf(env, callId);

describe('llm.stream', () => {
  it('streams deltas, then a finish with usage, cost, attempts and a usage row per attempt', async () => {
    const prompt = 'Name three rivers';
    const events: LlmStreamEvent[] = [];
    for await (const event of env.module.llm.stream(
      call({ messages: [{ role: 'user', content: prompt }], cache: 'off' }),
    )) {
      events.push(event);
    }
    const deltas = events.filter((e) => e.type === 'text-delta');
    expect(deltas.length).toBeGreaterThan(3);
    const finish = events.at(-1);
    if (finish?.type !== 'finish') throw new Error('no finish');
    const { result } = finish;
    expect(result.text).toBe(fakeAnswer(prompt));
    expect(result.attempts).toBe(1);
    expect(result.cacheHit).toBe(false);
    expect(result.requestId).toMatch(/^req_/);
    // gpt-4o-mini: $0.15 / Mtok input = 150 nano-USD per token, $0.60 output = 600.
    const usage = result.usage;
    expect(result.costNano).toBe(
      (usage.uncachedInputTokens ?? 0) * 150 + (usage.outputTokens ?? 0) * 600,
    );
    const rows = await rowsOf(result.callId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      project_id: env.projectId,
      user_id: env.owner.userId,
      feature: 'sheet-cell',
      entity_ids: { datasetId: 'd1', rowId: '7' },
      provider_kind: 'openai',
      model: 'gpt-4o-mini',
      attempt: 1,
      status: 'ok',
      cost_nano: result.costNano,
      uncached_input_tokens: usage.uncachedInputTokens,
      output_tokens: usage.outputTokens,
      cache_write_tokens: null,
      cache_status: 'off',
      request_id: result.requestId,
    });
    expect(rows[0]?.ttft_ms).not.toBeNull();
  });

  it('prices cache-read tokens at their own rate (hand-computed, OpenAI)', async () => {
    const result = await env.module.llm.generate(
      call({ model: 'gpt-4o-mini@cache-read=40,reasoning=5', cache: 'off' }),
    );
    const u = result.usage;
    expect(u.cacheReadTokens).toBe(40);
    expect(u.reasoningTokens).toBe(5);
    // input 150, cache read 75, output (reasoning included) 600 nano-USD per token.
    expect(result.costNano).toBe(
      (u.uncachedInputTokens ?? 0) * 150 + 40 * 75 + (u.outputTokens ?? 0) * 600,
    );
  });

  it('prices cache-read and cache-write tokens at their own rates (hand-computed, Anthropic)', async () => {
    const result = await env.module.llm.generate(
      call({
        provider: env.providers.anthropic,
        model: 'claude-3-5-haiku-latest@cache-read=100,cache-write=200',
        cache: 'off',
      }),
    );
    const u = result.usage;
    expect(u).toMatchObject({ cacheReadTokens: 100, cacheWriteTokens: 200 });
    // claude-3-5-haiku: input $0.80, cache write $1.00, cache read $0.08, output $4.00 per Mtok.
    expect(result.costNano).toBe(
      (u.uncachedInputTokens ?? 0) * 800 + 200 * 1_000 + 100 * 80 + (u.outputTokens ?? 0) * 4_000,
    );
  });

  it('records an unknown price as NULL cost, never 0', async () => {
    const result = await env.module.llm.generate(
      call({ provider: env.providers['openai-compatible'], model: 'my-local-llama', cache: 'off' }),
    );
    expect(result.costNano).toBeNull();
    const [row] = await rowsOf(result.callId);
    expect(row?.cost_nano).toBeNull();
    expect(row?.output_tokens).toBeGreaterThan(0);
  });

  it('uses a project price override for a self-hosted model', async () => {
    const price = await env.module.admin.createPrice(env.owner, env.projectId, {
      model: 'house-model',
      inputUsdPerMtok: 1,
      outputUsdPerMtok: 2,
      validFrom: new Date(Date.now() - 1_000).toISOString(),
    });
    const result = await env.module.llm.generate(
      call({ provider: env.providers['openai-compatible'], model: 'house-model', cache: 'off' }),
    );
    const u = result.usage;
    expect(result.costNano).toBe(
      (u.uncachedInputTokens ?? 0) * 1_000 + (u.outputTokens ?? 0) * 2_000,
    );
    await env.module.admin.deletePrice(env.owner, env.projectId, price.id);
  });

  it('honours Retry-After on a 429 and records both attempts', async () => {
    waits.length = 0;
    const result = await env.module.llm.generate(
      call({ model: 'gpt-4o-mini@status=429,retry-after=1,fail-times=1', cache: 'off' }),
    );
    // One wait before the retry, at least the second the provider asked for.
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(1_000);
    expect(result.attempts).toBe(2);
    expect(env.fake.requests).toHaveLength(2);
    const rows = await rowsOf(result.callId);
    expect(
      rows.map((r) => [r.attempt, r.status, r.error_code, r.http_status, r.cost_nano]),
    ).toEqual([
      [1, 'error', 'RATE_LIMITED', 429, 0],
      [2, 'ok', null, null, result.costNano],
    ]);
    expect(rows[0]?.uncached_input_tokens).toBeNull();
  });

  it('stops at once on a final error and reports it without the key', async () => {
    const bad = await env.module.admin.createProvider(env.owner, env.projectId, {
      name: 'bad key',
      kind: 'openai',
      baseUrl: `${env.fake.url}/v1`,
      apiKey: 'sk-this-key-is-wrong-0000111122223333',
    });
    const error = await failureOf(
      env.module.llm.generate(call({ provider: bad.id, cache: 'off' })),
    );
    expect(error.code).toBe('PROVIDER_ERROR');
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ reason: 'authentication', httpStatus: 401, attempts: 1 });
    expect(env.fake.requests).toHaveLength(1);
    const everything = `${JSON.stringify({ message: error.message, details: error.details })}\n${env.logs.text()}`;
    expect(everything).not.toContain('sk-this-key-is-wrong-0000111122223333');
    expect(everything).not.toContain('0000111122223333');
    expect(everything).not.toContain(FAKE_API_KEY);
  });

  it('turns a hang into a TIMEOUT error and closes the request', async () => {
    const error = await failureOf(
      env.module.llm.generate(
        call({
          model: 'gpt-4o-mini@hang',
          cache: 'off',
          timeouts: { firstChunkMs: 100, totalMs: 250 },
        }),
      ),
    );
    expect(error.code).toBe('TIMEOUT');
    // The first-chunk timeout is retried, so there can be two requests; the server may see
    // the second one's close a moment after the error comes back. Every one must close.
    await env.fake.waitFor((_, all) => all.every((r) => r.aborted));
    expect(env.fake.requests.every((r) => r.aborted)).toBe(true);
  });

  it('retries a stream cut mid-way, tells the reader to restart, and finishes with the whole answer', async () => {
    const prompt = 'Tell me a long story';
    const model = 'gpt-4o-mini@disconnect-after=3,fail-times=1';
    // Price the suffixed name like gpt-4o-mini, so the cut attempt's partial usage is priced.
    await env.module.admin.createPrice(env.owner, env.projectId, {
      model,
      inputUsdPerMtok: 0.15,
      outputUsdPerMtok: 0.6,
      validFrom: new Date(Date.now() - 60_000).toISOString(),
    });
    const events: LlmStreamEvent[] = [];
    for await (const event of env.module.llm.stream(
      call({
        model: 'gpt-4o-mini@disconnect-after=3,fail-times=1',
        messages: [{ role: 'user', content: prompt }],
        cache: 'off',
      }),
    )) {
      events.push(event);
    }
    const types = events.map((e) => e.type);
    const restart = types.indexOf('attempt-restart');
    expect(restart).toBe(3);
    const after = events.slice(restart + 1).filter((e) => e.type === 'text-delta');
    expect(after.map((e) => (e.type === 'text-delta' ? e.text : '')).join('')).toBe(
      fakeAnswer(prompt),
    );
    const finish = events.at(-1);
    if (finish?.type !== 'finish') throw new Error('no finish');
    expect(finish.result.text).toBe(fakeAnswer(prompt));
    const rows = await rowsOf(finish.result.callId);
    expect(rows.map((r) => [r.status, r.usage_estimated])).toEqual([
      ['error', true],
      ['ok', false],
    ]);
    // The partial attempt's output was counted, and priced.
    expect(rows[0]?.output_tokens).toBeGreaterThan(0);
    expect(rows[0]?.cost_nano).toBeGreaterThan(0);
    expect(finish.result.costNano).toBe(Number(rows[0]?.cost_nano) + Number(rows[1]?.cost_nano));
  });

  it('ends a stream that keeps breaking with a clean error, never a half-written success', async () => {
    const events: LlmStreamEvent[] = [];
    const error = await failureOf(
      (async () => {
        for await (const event of env.module.llm.stream(
          call({ model: 'gpt-4o-mini@disconnect-after=2', cache: 'off' }),
        )) {
          events.push(event);
        }
      })(),
    );
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(error.details).toMatchObject({ reason: 'network', attempts: 3 });
    expect(events.some((e) => e.type === 'finish')).toBe(false);
  });

  it('propagates an abort to the fake server and records the partial usage', async () => {
    const controller = new AbortController();
    let deltas = 0;
    let thrown: unknown;
    const stream = env.module.llm.stream(
      call({ model: 'gpt-4o-mini@tps=20', signal: controller.signal, cache: 'off' }),
    );
    try {
      for await (const event of stream) {
        if (event.type === 'text-delta' && ++deltas === 2)
          controller.abort(new Error('user closed the tab'));
      }
    } catch (error) {
      thrown = error;
    }
    expect((thrown as Error).message).toBe('user closed the tab');
    const seen = await env.fake.waitFor((r) => r.aborted);
    expect(seen.aborted).toBe(true);
    await env.module.llm.flush();
    const [row] = await env.database.db
      .selectFrom('llm_calls')
      .selectAll()
      .where('status', '=', 'aborted')
      .orderBy('created_at', 'desc')
      .limit(1)
      .execute();
    expect(row?.usage_estimated).toBe(true);
    expect(row?.output_tokens).toBeGreaterThan(0);
  });

  it('closes the upstream request when the reader stops early', async () => {
    for await (const event of env.module.llm.stream(
      call({ model: 'gpt-4o-mini@tps=20', cache: 'off' }),
    )) {
      if (event.type === 'text-delta') break;
    }
    const seen = await env.fake.waitFor((r) => r.aborted);
    expect(seen.aborted).toBe(true);
  });

  it('falls back to the next model in the chain when the first is unavailable', async () => {
    const result = await env.module.llm.generate(
      call({
        model: 'gpt-4o-mini@status=503',
        cache: 'off',
        fallbacks: [{ provider: env.providers.anthropic, model: 'claude-3-5-haiku-latest' }],
      }),
    );
    expect(result.providerKind).toBe('anthropic');
    expect(result.attempts).toBe(4);
  });

  it('returns structured output', async () => {
    const result = await env.module.llm.generate(
      call({
        cache: 'off',
        outputSchema: {
          type: 'object',
          properties: { sentiment: { type: 'string', enum: ['positive', 'negative'] } },
          required: ['sentiment'],
          additionalProperties: false,
        },
      }),
    );
    expect(result.output).toMatchObject({ sentiment: expect.stringMatching(/positive|negative/) });
  });

  it('refuses an invalid call before any spend, naming the field', async () => {
    const error = await failureOf(env.module.llm.generate(call({ feature: 'Not A Feature' })));
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(error.details?.issues).toEqual([expect.objectContaining({ path: 'feature' })]);
    expect(env.fake.requests).toHaveLength(0);
  });

  it('checks the actor may edit the project', async () => {
    const stranger = actorFor(await createUser(env.database));
    const error = await failureOf(env.module.llm.generate(call({ actor: stranger })));
    expect(error.code).toBe('NOT_FOUND');
    env.access.grant(stranger.userId, env.projectId, 'viewer');
    expect((await failureOf(env.module.llm.generate(call({ actor: stranger })))).code).toBe(
      'FORBIDDEN',
    );
  });
});

describe('cache', () => {
  it('answers a repeated call from the cache, records the hit at cost 0 with its saving', async () => {
    const request = call({ messages: [{ role: 'user', content: 'Cache this answer' }] });
    const first = await env.module.llm.generate(request);
    const second = await env.module.llm.generate(request);
    expect(second.cacheHit).toBe(true);
    expect(second.text).toBe(first.text);
    expect(second.costNano).toBe(0);
    expect(second.savedNano).toBe(first.costNano);
    expect(env.fake.requests).toHaveLength(1);
    const [row] = await rowsOf(second.callId);
    expect(row).toMatchObject({
      status: 'cache-hit',
      cost_nano: 0,
      saved_nano: first.costNano,
      cache_status: 'hit',
    });
  });

  it('misses when anything in the prompt, parameters or schema changes, and with bypass', async () => {
    const base = call({ messages: [{ role: 'user', content: 'Stable prompt' }] });
    await env.module.llm.generate(base);
    await env.module.llm.generate({
      ...base,
      messages: [{ role: 'user', content: 'Stable prompt!' }],
    });
    await env.module.llm.generate({
      ...base,
      parameters: { maxOutputTokens: 50, temperature: 0.5 },
    });
    await env.module.llm.generate({ ...base, outputSchema: { type: 'object', properties: {} } });
    const forced = await env.module.llm.generate({ ...base, cache: 'bypass' });
    expect(forced.cacheHit).toBe(false);
    expect(env.fake.requests).toHaveLength(5);
    // Key order does not matter: the key is over canonical JSON.
    const reordered = await env.module.llm.generate({
      ...base,
      parameters: JSON.parse('{"maxOutputTokens":50}'),
      messages: [JSON.parse('{"content":"Stable prompt","role":"user"}')],
    });
    expect(reordered.cacheHit).toBe(true);
  });

  it('never shares entries across projects', async () => {
    const messages = [{ role: 'user' as const, content: 'Shared prompt' }];
    await env.module.llm.generate(call({ messages }));
    const other = await env.module.admin.createProvider(env.owner, env.otherProjectId, {
      name: 'other openai',
      kind: 'openai',
      baseUrl: `${env.fake.url}/v1`,
      apiKey: FAKE_API_KEY,
    });
    const result = await env.module.llm.generate(
      call({ projectId: env.otherProjectId, provider: other.id, messages }),
    );
    expect(result.cacheHit).toBe(false);
  });

  it('reports stats and clears per project', async () => {
    const request = call({ messages: [{ role: 'user', content: 'Stats prompt' }] });
    await env.module.llm.generate(request);
    await env.module.llm.generate(request);
    const stats = await env.module.admin.cacheStats(env.owner, env.projectId);
    expect(stats.hits).toBeGreaterThanOrEqual(1);
    expect(stats.misses).toBeGreaterThanOrEqual(1);
    expect(stats.savedNano).toBeGreaterThan(0);
    expect(stats.entries).toBeGreaterThan(0);
    const cleared = await env.module.admin.clearCache(env.owner, env.projectId);
    expect(cleared.cleared).toBe(stats.entries);
    const again = await env.module.llm.generate(request);
    expect(again.cacheHit).toBe(false);
  });
});

describe('budgets', () => {
  async function budgetedProject(limits: {
    hardLimitNano?: number;
    softLimitNano?: number;
    userId?: string;
  }) {
    const { projectId, providerId } = await createOwnedProject(env, 'Budgeted');
    const budget = await env.module.admin.createBudget(env.owner, projectId, {
      period: 'month',
      ...limits,
    });
    return { projectId, providerId, budgetId: budget.id };
  }
  /** The fake's control suffixes make a model name the catalog does not know: price it like gpt-4o-mini. */
  async function priceLikeMini(projectId: string, model: string) {
    await env.module.admin.createPrice(env.owner, projectId, {
      model,
      inputUsdPerMtok: 0.15,
      outputUsdPerMtok: 0.6,
      validFrom: new Date(Date.now() - 60_000).toISOString(),
    });
  }

  it('refuses with the budget and spend in details once the hard limit is used up', async () => {
    const { projectId, providerId, budgetId } = await budgetedProject({ hardLimitNano: 1 });
    const error = await failureOf(
      env.module.llm.generate(call({ projectId, provider: providerId, cache: 'off' })),
    );
    expect(error.code).toBe('BUDGET_EXCEEDED');
    expect(error.status).toBe(402);
    expect(error.details).toMatchObject({ budgetId, limitNano: 1, spentNano: 0, reservedNano: 0 });
    expect(env.fake.requests).toHaveLength(0);
  });

  it('warns past a soft limit without refusing', async () => {
    const { projectId, providerId } = await budgetedProject({ softLimitNano: 1 });
    const result = await env.module.llm.generate(
      call({ projectId, provider: providerId, cache: 'off' }),
    );
    expect(result.warnings).toContain('soft budget (month) is used up');
    await env.module.llm.flush();
    await expect
      .poll(() => env.logs.lines.some((line) => line.msg === 'llm soft budget reached'))
      .toBe(true);
  });

  it('applies a per-user budget only to that user', async () => {
    const limitedUser = await createUser(env.database);
    const { projectId, providerId } = await budgetedProject({
      hardLimitNano: 1,
      userId: limitedUser,
    });
    env.access.grant(limitedUser, projectId, 'editor');
    const error = await failureOf(
      env.module.llm.generate(
        call({ actor: actorFor(limitedUser), projectId, provider: providerId, cache: 'off' }),
      ),
    );
    expect(error.details).toMatchObject({ scope: 'user' });
    const ok = await env.module.llm.generate(
      call({ projectId, provider: providerId, cache: 'off' }),
    );
    expect(ok.text).not.toBe('');
  });

  it('settles an aborted stream with its partial cost', async () => {
    const { projectId, providerId } = await budgetedProject({ hardLimitNano: 10_000_000 });
    await priceLikeMini(projectId, 'gpt-4o-mini@tps=20');
    const controller = new AbortController();
    let deltas = 0;
    try {
      for await (const event of env.module.llm.stream(
        call({
          projectId,
          provider: providerId,
          model: 'gpt-4o-mini@tps=20',
          signal: controller.signal,
          cache: 'off',
        }),
      )) {
        if (event.type === 'text-delta' && ++deltas === 3) controller.abort();
      }
    } catch {
      // aborted
    }
    await env.module.llm.flush();
    const [state] = await env.module.admin.listBudgets(env.owner, projectId);
    expect(state?.reservedNano).toBe(0);
    expect(state?.spentNano).toBeGreaterThan(0);
  });
});

describe('breaker and concurrency against the fake server', () => {
  it('opens the circuit after repeated 5xx, fails fast without a request, and closes after a good probe', async () => {
    // Threshold 5: two calls of three attempts each open it.
    await failureOf(
      env.module.llm.generate(call({ model: 'gpt-4o-mini@status=500', cache: 'off' })),
    );
    await failureOf(
      env.module.llm.generate(call({ model: 'gpt-4o-mini@status=500', cache: 'off' })),
    );
    const breaker = env.module.registry.breaker(env.providers.openai, 'gpt-4o-mini@status=500');
    expect(breaker?.state).toBe('open');
    env.fake.reset();
    const fast = await failureOf(
      env.module.llm.generate(call({ model: 'gpt-4o-mini@status=500', cache: 'off' })),
    );
    expect(fast.code).toBe('PROVIDER_UNAVAILABLE');
    expect(fast.details).toMatchObject({ reason: 'circuit-open', httpStatus: 500 });
    // Not only "circuit open": why it opened, in our words and the provider's own.
    expect(fast.message).toMatch(/circuit open.*last error: .*HTTP 500/);
    expect(typeof (fast.details as { providerMessage?: unknown }).providerMessage).toBe('string');
    expect(env.fake.requests).toHaveLength(0);
  });

  it('halves the provider concurrency under a 429 storm', async () => {
    const limiter = () => env.module.registry.limiter(env.providers.huggingface);
    await env.module.llm.generate(
      call({ provider: env.providers.huggingface, model: 'org/model', cache: 'off' }),
    );
    const before = limiter()?.limit ?? 0;
    await Promise.allSettled(
      Array.from({ length: 16 }, (_, index) =>
        env.module.llm.generate(
          call({
            provider: env.providers.huggingface,
            model: 'org/model@status=429,retry-after=0',
            messages: [{ role: 'user', content: `storm ${index}` }],
            cache: 'off',
          }),
        ),
      ),
    );
    expect(limiter()?.limit).toBeLessThanOrEqual(before / 2);
    for (let i = 0; i < 40; i++) {
      await env.module.llm.generate(
        call({ provider: env.providers.huggingface, model: 'org/model', cache: 'off' }),
      );
    }
    expect(limiter()?.limit).toBeGreaterThan(1);
  });

  it('a cap changed through the API applies to the next call, even after 429s lowered the limit', async () => {
    const providerId = env.providers.anthropic;
    const model = 'claude-3-5-haiku-latest';
    await env.module.llm.generate(call({ provider: providerId, model, cache: 'off' }));
    const limiter = () => env.module.registry.limiter(providerId);
    await failureOf(
      env.module.llm.generate(
        call({
          provider: providerId,
          model: `${model}@status=429,retry-after=0`,
          cache: 'off',
          messages: [{ role: 'user', content: 'lowered' }],
        }),
      ),
    );
    expect(limiter()!.limit).toBeLessThan(limiter()!.settings.maxConcurrency);
    await env.module.admin.updateProvider(env.owner, env.projectId, providerId, {
      maxConcurrency: 200,
    });
    // Read through the service as a run sizes its window: the new cap, at once.
    const seen = await env.module.llm.concurrency(env.projectId, providerId, model);
    expect(seen).toMatchObject({ providerRef: providerId, cap: 200, limit: 200 });
    await env.module.llm.generate(call({ provider: providerId, model, cache: 'off' }));
    expect(limiter()!.limit).toBe(200);
  });
});

describe('secrets', () => {
  it('never shows a provider key in API answers, logs or errors', async () => {
    const listed = await env.module.admin.listProviders(env.owner, env.projectId);
    const text = JSON.stringify(listed);
    expect(text).not.toContain(FAKE_API_KEY);
    expect(listed.find((p) => p.id === env.providers.openai)?.apiKey).toBe('sk-…5b4a');
    const stored = await env.database.db.selectFrom('llm_provider').select('api_key').execute();
    for (const row of stored) expect(row.api_key).not.toContain(FAKE_API_KEY);
    expect(env.logs.text()).not.toContain(FAKE_API_KEY);
  });
});
