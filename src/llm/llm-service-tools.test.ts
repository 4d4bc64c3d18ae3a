import { describe, expect, it } from 'vitest';
import type {
  LlmMessage,
  LlmToolCallPart,
  LlmToolDefinition,
  ProviderKind,
} from './llm-provider.ts';
import { PROVIDER_KINDS } from './llm-provider.ts';
import type { LlmCallRequest } from './llm-service.ts';
import {
  collectStream,
  createOwnedProject,
  FAKE_MODELS,
  failureOf,
  llmTestEnvPerSuite,
  toolRoundTrip,
  usageRowsOf,
  WEATHER_TOOLS,
} from './llm-test-env.ts';

/**
 * Tools and multi-part messages through `llm.stream` / `llm.generate`: the service's real
 * adapters over HTTP against tools/fake-llm, for every provider kind (issue #13, item 6).
 */

const env = llmTestEnvPerSuite();
const models = FAKE_MODELS;
const weather = WEATHER_TOOLS;

const call = (kind: ProviderKind, overrides: Partial<LlmCallRequest> = {}): LlmCallRequest => ({
  actor: env.owner,
  projectId: env.projectId,
  feature: 'chat',
  provider: env.providers[kind],
  model: models[kind],
  messages: [{ role: 'user', content: `Weather in Lisbon ${Math.random()}? call:get_weather` }],
  tools: weather,
  parameters: { maxOutputTokens: 64 },
  ...overrides,
});

const collect = (request: LlmCallRequest) => collectStream(env, request);
const rowsOf = (callId: string) => usageRowsOf(env, callId);

describe.each(PROVIDER_KINDS)('%s: tools through the LLM service', (kind) => {
  it('streams a tool call event, returns it in the result, and records usage for the attempt', async () => {
    const { events, result } = await collect(call(kind, { cache: 'off' }));
    const calls = events.filter((event): event is LlmToolCallPart => event.type === 'tool-call');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      toolName: 'get_weather',
      input: { city: expect.any(String) },
    });
    expect(result.toolCalls).toEqual(calls);
    expect(result.finishReason).toBe('tool-calls');
    // The definitions reached the provider in its wire format.
    expect(JSON.stringify(env.fake.requests.at(-1)?.body)).toContain('get_weather');
    const rows = await rowsOf(result.callId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'ok', finish_reason: 'tool-calls', feature: 'chat' });
    expect(rows[0]?.output_tokens).toBeGreaterThan(0);
  });

  it('sends the call and its result back as message parts and gets a text answer', async () => {
    const question = `Weather in Porto ${Math.random()}? call:get_weather`;
    const first = await env.module.llm.generate(
      call(kind, { messages: [{ role: 'user', content: question }], cache: 'off' }),
    );
    const [toolCall] = first.toolCalls;
    if (!toolCall) throw new Error('no tool call');
    const messages = toolRoundTrip(question, toolCall);
    if (kind === 'huggingface') {
      // Its SDK mapping would drop the history: refused before a request, and not billed.
      const error = await failureOf(
        env.module.llm.generate(call(kind, { messages, cache: 'off' })),
      );
      expect(error.code).toBe('PROVIDER_ERROR');
      expect(error.details).toMatchObject({ reason: 'bad-request', attempts: 1 });
      const rows = await rowsOf(String(error.details?.callId));
      expect(rows).toHaveLength(1);
      expect(Number(rows[0]?.cost_nano ?? 0)).toBe(0);
      return;
    }
    const second = await env.module.llm.generate(call(kind, { messages, cache: 'off' }));
    expect(second.toolCalls).toEqual([]);
    expect(second.finishReason).toBe('stop');
    expect(second.text.length).toBeGreaterThan(0);
    const sent = JSON.stringify(env.fake.requests.at(-1)?.body);
    expect(sent).toContain(toolCall.toolCallId);
    expect(sent).toContain('temperatureC');
  });

  it('forces a named tool with toolChoice and sends no tools with none', async () => {
    const forced = await env.module.llm.generate(
      call(kind, { toolChoice: { toolName: 'get_time' }, cache: 'off' }),
    );
    expect(forced.toolCalls).toEqual([
      expect.objectContaining({ toolName: 'get_time', input: { zone: expect.any(String) } }),
    ]);
    const none = await env.module.llm.generate(call(kind, { toolChoice: 'none', cache: 'off' }));
    expect(none.toolCalls).toEqual([]);
    expect(none.text).not.toBe('');
  });

  it('sends an image part with the text of a user message', async () => {
    const pixel =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const result = await env.module.llm.generate(
      call(kind, {
        tools: undefined,
        cache: 'off',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in this picture?' },
              { type: 'image', url: pixel },
            ],
          },
        ],
      }),
    );
    expect(result.text).not.toBe('');
    expect(JSON.stringify(env.fake.requests.at(-1)?.body)).toContain('iVBORw0KGgo');
  });
});

describe('router semantics with tools', () => {
  it('retries a 500 and still returns the tool call of the answering attempt, one usage row each', async () => {
    const result = await env.module.llm.generate(
      call('openai', { model: 'gpt-4o-mini@fail-times=1', cache: 'off' }),
    );
    expect(result.attempts).toBe(2);
    expect(result.toolCalls).toEqual([expect.objectContaining({ toolName: 'get_weather' })]);
    const rows = await rowsOf(result.callId);
    expect(rows.map((row) => row.status)).toEqual(['error', 'ok']);
  });

  it('falls back to another provider on a 500 and returns its tool call', async () => {
    const fallback = await env.module.llm.generate(
      call('openai', {
        model: 'gpt-4o-mini@status=500',
        cache: 'off',
        fallbacks: [{ provider: env.providers.anthropic, model: models.anthropic }],
      }),
    );
    expect(fallback.providerKind).toBe('anthropic');
    expect(fallback.toolCalls).toEqual([expect.objectContaining({ toolName: 'get_weather' })]);
  });

  it('reserves a budget for a tool call and settles it at the reported cost', async () => {
    const { projectId, providerId } = await createOwnedProject(env, 'Budgeted tools');
    await env.module.admin.createBudget(env.owner, projectId, {
      period: 'month',
      hardLimitNano: 1_000_000_000,
    });
    const result = await env.module.llm.generate(
      call('openai', { projectId, provider: providerId, cache: 'off' }),
    );
    expect(result.costNano).toBeGreaterThan(0);
    await env.module.llm.flush();
    const [state] = await env.module.admin.listBudgets(env.owner, projectId);
    expect(state?.reservedNano).toBe(0);
    expect(state?.spentNano).toBe(result.costNano);
    // A hard limit below the estimate (which counts the tool definitions) refuses up front.
    await env.module.admin.createBudget(env.owner, projectId, { period: 'day', hardLimitNano: 1 });
    const refused = await failureOf(
      env.module.llm.generate(call('openai', { projectId, provider: providerId, cache: 'off' })),
    );
    expect(refused.code).toBe('BUDGET_EXCEEDED');
  });
});

describe('the response cache with tools', () => {
  const prompt = () => [
    { role: 'user' as const, content: `Weather in Faro ${Math.random()}? call:get_weather` },
  ];

  it('replays a cached tool call as a tool-call event with the same id', async () => {
    const messages = prompt();
    const first = await collect(call('anthropic', { messages }));
    expect(first.result.cacheHit).toBe(false);
    const second = await collect(call('anthropic', { messages }));
    expect(second.result.cacheHit).toBe(true);
    expect(second.result.toolCalls).toEqual(first.result.toolCalls);
    expect(second.events.filter((event) => event.type === 'tool-call')).toEqual(
      first.result.toolCalls,
    );
    expect(second.result.finishReason).toBe('tool-calls');
  });

  it('never answers from the cache for another tool set, tool choice or output schema', async () => {
    const messages = prompt();
    await env.module.llm.generate(call('openai', { messages }));
    const requestsBefore = env.fake.requests.length;
    const variants: Partial<LlmCallRequest>[] = [
      { tools: [weather[0] as LlmToolDefinition] },
      {
        tools: [
          { ...(weather[0] as LlmToolDefinition), description: 'Weather, in Fahrenheit' },
          weather[1] as LlmToolDefinition,
        ],
      },
      { toolChoice: { toolName: 'get_time' } },
      { toolChoice: 'required' },
      { tools: undefined },
      {
        tools: undefined,
        outputSchema: { type: 'object', properties: { city: { type: 'string' } } },
      },
    ];
    for (const variant of variants) {
      const result = await env.module.llm.generate(call('openai', { messages, ...variant }));
      expect(result.cacheHit, JSON.stringify(variant)).toBe(false);
    }
    expect(env.fake.requests.length).toBe(requestsBefore + variants.length);
    // The same tool set in another key order still hits.
    const reordered = weather.map((tool) => ({
      inputSchema: tool.inputSchema,
      name: tool.name,
      ...(tool.description ? { description: tool.description } : {}),
    }));
    const hit = await env.module.llm.generate(call('openai', { messages, tools: reordered }));
    expect(hit.cacheHit).toBe(true);
  });

  it('keys tool results in the history: another result is another answer', async () => {
    const history = (output: unknown): LlmMessage[] => [
      { role: 'user', content: 'Weather in Braga? call:get_weather' },
      {
        role: 'assistant',
        content: [
          {
            type: 'tool-call',
            toolCallId: 'call_1',
            toolName: 'get_weather',
            input: { city: 'Braga' },
          },
        ],
      },
      {
        role: 'tool',
        content: [{ type: 'tool-result', toolCallId: 'call_1', toolName: 'get_weather', output }],
      },
    ];
    const warm = await env.module.llm.generate(call('openai', { messages: history({ c: 20 }) }));
    const cold = await env.module.llm.generate(call('openai', { messages: history({ c: 5 }) }));
    expect(cold.cacheHit).toBe(false);
    const again = await env.module.llm.generate(call('openai', { messages: history({ c: 20 }) }));
    expect(again.cacheHit).toBe(true);
    expect(again.text).toBe(warm.text);
  });
});

describe('bad tool input', () => {
  const cases: [string, Partial<LlmCallRequest>, string][] = [
    [
      'a tool name with spaces',
      { tools: [{ name: 'get weather', inputSchema: { type: 'object' } }] },
      'tools.0.name',
    ],
    [
      'a non-object input schema',
      { tools: [{ name: 'get_weather', inputSchema: { type: 'string' } }] },
      'tools.0.inputSchema',
    ],
    ['duplicate tool names', { tools: [weather[0], weather[0]] as LlmToolDefinition[] }, 'tools'],
    ['a choice naming no tool', { toolChoice: { toolName: 'drop_tables' } }, 'toolChoice.toolName'],
    ['required without tools', { tools: undefined, toolChoice: 'required' }, 'toolChoice'],
    [
      'a tool message without parts',
      { messages: [{ role: 'tool', content: [] }] as unknown as LlmMessage[] },
      'messages.0.content',
    ],
    [
      'an unknown assistant part',
      {
        messages: [
          { role: 'assistant', content: [{ type: 'script', text: 'x' }] },
        ] as unknown as LlmMessage[],
      },
      'messages.0.content',
    ],
  ];
  it.each(cases)(
    'refuses %s naming the field, before any request',
    async (_name, overrides, path) => {
      const error = await failureOf(
        env.module.llm.generate(call('openai', { ...overrides, cache: 'off' })),
      );
      expect(error.code).toBe('VALIDATION_ERROR');
      expect(error.details?.issues).toEqual(
        expect.arrayContaining([expect.objectContaining({ path })]),
      );
      expect(env.fake.requests).toHaveLength(0);
    },
  );
});
