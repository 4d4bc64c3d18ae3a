import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { imageDigest } from '../../tools/fake-llm/fake-llm-images.ts';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import { type FakeLlm, startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import {
  type LlmProvider,
  type LlmToolCallPart,
  PROVIDER_KINDS,
  type ProviderCallRequest,
  ProviderFailure,
  type ProviderKind,
  type ProviderStreamEvent,
} from './llm-provider.ts';
import { createSdkProvider } from './llm-sdk-provider.ts';
import {
  createWireClient,
  sseData,
  structuredOutput,
  wireEligible,
  wireGenerateEligible,
} from './llm-sdk-wire.ts';
import { createResponsesClient, responsesGenerateEligible } from './llm-sdk-wire-responses.ts';
import { FAKE_MODELS, toolRoundTrip, WEATHER_TOOLS } from './llm-test-env.ts';

/**
 * The contract every provider kind keeps, run against the fake server with the real AI SDK
 * provider packages: same text, usage buckets, failure kinds and abort behaviour.
 */
const API_KEY = 'sk-contract-test-key-0123456789';

const models = FAKE_MODELS;

/** What each wire format can report: which cache buckets exist at all. */
const reports: Record<
  ProviderKind,
  { cacheRead: boolean; cacheWrite: boolean; reasoning: boolean }
> = {
  openai: { cacheRead: true, cacheWrite: false, reasoning: true },
  anthropic: { cacheRead: true, cacheWrite: true, reasoning: false },
  huggingface: { cacheRead: true, cacheWrite: false, reasoning: true },
  'openai-compatible': { cacheRead: true, cacheWrite: false, reasoning: true },
};

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm({ apiKey: API_KEY });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

function request(
  model: string,
  prompt: string,
  extra: Partial<ProviderCallRequest> = {},
): ProviderCallRequest {
  return {
    model,
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: prompt },
    ],
    parameters: { maxOutputTokens: 64 },
    outputSchema: undefined,
    signal: new AbortController().signal,
    ...extra,
  };
}

async function collect(provider: LlmProvider, call: ProviderCallRequest) {
  const events: ProviderStreamEvent[] = [];
  let failure: ProviderFailure | undefined;
  try {
    for await (const event of provider.stream(call)) events.push(event);
  } catch (error) {
    if (!(error instanceof ProviderFailure)) throw error;
    failure = error;
  }
  const text = events.map((event) => (event.type === 'text-delta' ? event.text : '')).join('');
  const finish = events.find((event) => event.type === 'finish');
  return { events, text, finish: finish?.type === 'finish' ? finish : undefined, failure };
}

// Plain openai-compatible calls take the adapter's fast path (llm-sdk-wire.ts); the suite runs
// once more with it off, so the SDK path keeps the same contract.
const CONTRACT_CASES = [
  ...PROVIDER_KINDS.map((kind) => [kind, '', true] as const),
  ['openai-compatible', ' (SDK path)', false] as const,
];

describe.each(CONTRACT_CASES)('%s adapter contract%s', (kind, _label, fastPath) => {
  const provider = () =>
    createSdkProvider({ kind, baseUrl: `${fake.url}/v1`, apiKey: API_KEY, fastPath });
  const model = models[kind];

  it('streams the answer as text deltas, then a finish with usage and the request id', async () => {
    const { text, finish, events } = await collect(provider(), request(model, 'Name a colour'));
    expect(text).toBe(fakeAnswer('Name a colour'));
    expect(events.filter((event) => event.type === 'text-delta').length).toBeGreaterThan(3);
    expect(finish?.finishReason).toBe('stop');
    expect(finish?.requestId).toMatch(/^req_/);
    expect(finish?.usage.outputTokens).toBe(text.split(' ').length);
    expect(finish?.usage.uncachedInputTokens).toBeGreaterThan(0);
  });

  const weather = WEATHER_TOOLS;
  const question = 'What is the weather in Lisbon? call:get_weather';

  it('streams a tool call whole, with its input parsed, and answers in text after the result', async () => {
    const first = await collect(provider(), request(model, question, { tools: weather }));
    const calls = first.events.filter((event) => event.type === 'tool-call');
    expect(calls).toHaveLength(1);
    const call = calls[0] as LlmToolCallPart;
    expect(call).toMatchObject({ toolName: 'get_weather', input: { city: expect.any(String) } });
    expect(call.toolCallId).not.toBe('');
    expect(first.finish?.finishReason).toBe('tool-calls');
    expect(first.finish?.toolCalls).toEqual([call]);
    // The caller ran the tool; the call and its result go back, and the model answers.
    const followUp = {
      ...request(model, question, { tools: weather }),
      messages: toolRoundTrip(question, call),
    } satisfies ProviderCallRequest;
    if (kind === 'huggingface') {
      // Its SDK mapping would drop the call and result: refused, never silently lost.
      const refused = await collect(provider(), followUp);
      expect(refused.failure?.kind).toBe('bad-request');
      expect(refused.failure?.message).toMatch(/openai-compatible/);
      return;
    }
    const second = await collect(provider(), followUp);
    expect(second.events.some((event) => event.type === 'tool-call')).toBe(false);
    expect(second.text.length).toBeGreaterThan(0);
    expect(second.finish?.finishReason).toBe('stop');
    expect(second.finish?.toolCalls).toEqual([]);
    // Both reached the provider in its own wire format.
    const sent = JSON.stringify(fake.requests.at(-1)?.body);
    expect(sent).toContain(call.toolCallId);
    expect(sent).toContain('temperatureC');
  });

  it('returns tool calls without streaming, and a forced choice calls the named tool', async () => {
    const result = await provider().generate(request(model, question, { tools: weather }));
    expect(result.toolCalls).toEqual([
      expect.objectContaining({ toolName: 'get_weather', input: { city: expect.any(String) } }),
    ]);
    const forced = await collect(
      provider(),
      request(model, 'Any time zone', { tools: weather, toolChoice: { toolName: 'get_time' } }),
    );
    expect(forced.finish?.toolCalls).toEqual([
      expect.objectContaining({ toolName: 'get_time', input: { zone: expect.any(String) } }),
    ]);
    // `none`: no call even when the turn names a tool.
    const none = await collect(
      provider(),
      request(model, question, { tools: weather, toolChoice: 'none' }),
    );
    expect(none.finish?.toolCalls).toEqual([]);
    expect(none.text.length).toBeGreaterThan(0);
  });

  it('sends an image part to the provider with the text', async () => {
    const pixel =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const { text } = await collect(provider(), {
      ...request(model, 'x'),
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Describe this picture' },
            { type: 'image', url: pixel, mediaType: 'image/png' },
          ],
        },
      ],
    });
    // The fake sees the image: it reads it as a digest of the bytes the adapter sent.
    const bytes = Buffer.from(pixel.slice(pixel.indexOf(',') + 1), 'base64');
    expect(text).toBe(fakeAnswer(`Describe this picture\n[image:${imageDigest(bytes)}]`));
    expect(JSON.stringify(fake.requests.at(-1)?.body)).toContain('iVBORw0KGgo');
  });

  it('answers the same text without streaming', async () => {
    const result = await provider().generate(request(model, 'Name a colour'));
    expect(result.text).toBe(fakeAnswer('Name a colour'));
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    expect(fake.requests.at(-1)?.stream).toBe(false);
  });

  it('maps cache and reasoning buckets the wire format reports, and leaves the others unknown', async () => {
    const { finish } = await collect(
      provider(),
      request(`${model}@cache-read=7,cache-write=3,reasoning=2`, 'Cache me'),
    );
    const usage = finish?.usage;
    expect(usage?.cacheReadTokens).toBe(7);
    if (reports[kind].cacheWrite) expect(usage?.cacheWriteTokens).toBe(3);
    if (reports[kind].reasoning) expect(usage?.reasoningTokens).toBe(2);
    else expect(usage?.reasoningTokens).toBeUndefined();
    // Input buckets are disjoint: uncached + read (+ write) = what the server billed.
    const billedInput = fake.requests.at(-1)?.body as unknown;
    expect(billedInput).toBeDefined();
  });

  it('keeps token counts unknown (undefined, never 0) when usage is missing', async () => {
    const { finish, failure } = await collect(provider(), request(`${model}@no-usage`, 'No usage'));
    if (kind === 'anthropic') {
      // Anthropic always sends usage; the SDK refuses a message without it, so the call
      // fails cleanly instead of finishing with made-up zeros.
      expect(finish).toBeUndefined();
      expect(failure).toBeDefined();
      return;
    }
    expect(finish?.usage.uncachedInputTokens).toBeUndefined();
    expect(finish?.usage.outputTokens).toBeUndefined();
  });

  it('reports a 429 as rate-limited with its Retry-After', async () => {
    const { failure } = await collect(
      provider(),
      request(`${model}@status=429,retry-after=2`, 'busy'),
    );
    expect(failure?.kind).toBe('rate-limited');
    expect(failure?.retryAfterMs).toBe(2_000);
    expect(failure?.status).toBe(429);
    expect(failure?.retryable).toBe(true);
  });

  it.each([
    [500, 'server-error'],
    [503, 'overloaded'],
    [400, 'bad-request'],
    [422, 'bad-request'],
  ] as const)('reports HTTP %i as %s', async (status, expected) => {
    const { failure } = await collect(provider(), request(`${model}@status=${status}`, 'fail'));
    expect(failure?.kind).toBe(expected);
    expect(failure?.responseStarted).toBe(false);
  });

  it('reports a rejected key as authentication, without the key in the message', async () => {
    const bad = createSdkProvider({
      kind,
      baseUrl: `${fake.url}/v1`,
      apiKey: 'sk-wrong-key-abcdefghijkl',
    });
    const { failure } = await collect(bad, request(model, 'who am i'));
    expect(failure?.kind).toBe('authentication');
    expect(failure?.retryable).toBe(false);
    expect(
      JSON.stringify({ message: failure?.message, provider: failure?.providerMessage }),
    ).not.toMatch(/wrong-key|abcdefghijkl/);
  });

  it('reports an unknown model as model-not-found', async () => {
    const { failure } = await collect(provider(), request('unknown-model-x', 'hello'));
    expect(failure?.kind).toBe('model-not-found');
  });

  it('reports a connection dropped mid-stream as a retryable network failure after output', async () => {
    const { failure, text } = await collect(
      provider(),
      request(`${model}@disconnect-after=3`, 'drop me'),
    );
    expect(failure?.kind).toBe('network');
    expect(failure?.retryable).toBe(true);
    expect(failure?.responseStarted).toBe(true);
    expect(text.length).toBeGreaterThan(0);
  });

  it('fails the attempt on an in-stream error event instead of finishing with partial text', async () => {
    const { failure, finish } = await collect(
      provider(),
      request(`${model}@error-after=2`, 'boom'),
    );
    expect(finish).toBeUndefined();
    expect(failure?.retryable).toBe(true);
    expect(failure?.responseStarted).toBe(true);
  });

  it('fails the attempt on a malformed chunk', async () => {
    const { failure, finish } = await collect(
      provider(),
      request(`${model}@malformed-after=2`, 'garbled'),
    );
    expect(finish).toBeUndefined();
    expect(failure?.kind).toBe('malformed-response');
    expect(failure?.retryable).toBe(true);
  });

  it('closes the HTTP request when the signal aborts', async () => {
    const controller = new AbortController();
    const call = request(`${model}@tps=20`, 'slow answer please');
    const events: ProviderStreamEvent[] = [];
    let failure: unknown;
    try {
      for await (const event of provider().stream({ ...call, signal: controller.signal })) {
        events.push(event);
        if (events.length === 2) controller.abort();
      }
    } catch (error) {
      failure = error;
    }
    expect((failure as ProviderFailure).kind).toBe('aborted');
    const seen = await fake.waitFor((r) => r.aborted);
    expect(seen.model).toBe(model);
  });

  it('returns structured output that fits the schema', async () => {
    const schema = {
      type: 'object',
      properties: { label: { type: 'string' }, score: { type: 'number' } },
      required: ['label', 'score'],
      additionalProperties: false,
    };
    const { finish } = await collect(
      provider(),
      request(model, 'classify this', { outputSchema: schema }),
    );
    expect(finish?.output).toMatchObject({ label: expect.any(String), score: expect.any(Number) });
  });

  it('lists models', async () => {
    const list = await provider().listModels(new AbortController().signal);
    expect(list).toContain(kind === 'anthropic' ? 'claude-3-5-haiku-20241022' : 'gpt-4o-mini');
  });
});

/** An extract step's answer schema (workflow-extract.ts) for one field named `name`. */
const answerSchemaWith = (name: string) => ({
  type: 'object',
  properties: {
    [name]: {
      type: 'object',
      properties: {
        value: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        page: { type: 'integer', minimum: 1 },
        quote: { type: 'string' },
      },
      required: ['value', 'page', 'quote'],
      additionalProperties: false,
    },
  },
  required: [name],
  additionalProperties: false,
});

const PNG_DATA_URL =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const JPEG_DATA_URL = `data:image/jpeg;base64,${Buffer.from('/9j/ not a real jpeg').toString('base64')}`;

/** Two images without text after a text turn, the first without a media type. */
const imagesAlone = (model: string) =>
  request(model, 'ignored', {
    messages: [
      { role: 'user', content: 'Two pictures follow.' },
      { role: 'assistant', content: 'Send them.' },
      {
        role: 'user',
        content: [
          { type: 'image', url: PNG_DATA_URL },
          { type: 'image', url: JPEG_DATA_URL },
        ],
      },
    ],
  });

/** Empty texts: whole turns (kept) and parts among others (dropped by `ai`). */
const emptyTexts = (model: string) =>
  request(model, 'ignored', {
    messages: [
      { role: 'system', content: '' },
      { role: 'user', content: '' },
      { role: 'assistant', content: '' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: '' },
          { type: 'text', text: 'x' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: '' }] },
    ],
  });

/** A connection of a fast-path kind, with its fast path on or off. */
const connectKind = (kind: ProviderKind, fastPath: boolean) =>
  createSdkProvider({ kind, baseUrl: `${fake.url}/v1`, apiKey: API_KEY, fastPath });

/**
 * Sends `call` through the SDK, then through the fast path, and checks that both sent the
 * same body and that only the first went through the SDK.
 */
const throughBothPaths = async <Result>(
  kind: ProviderKind,
  send: (provider: LlmProvider, call: ProviderCallRequest) => Promise<Result>,
  call: ProviderCallRequest,
) => {
  const viaSdk = await send(connectKind(kind, false), call);
  const sdkRequest = fake.requests.at(-1);
  const viaWire = await send(connectKind(kind, true), call);
  const wireRequest = fake.requests.at(-1);
  // The SDK's user agent names it: the second request did not go through it.
  expect(String(sdkRequest?.headers['user-agent'])).toMatch(/ai-sdk/);
  expect(String(wireRequest?.headers['user-agent'])).not.toMatch(/ai-sdk/);
  expect(wireRequest?.body).toEqual(sdkRequest?.body);
  return { viaSdk, viaWire };
};

const generated = async (provider: LlmProvider, call: ProviderCallRequest) => {
  const before = fake.requests.length;
  try {
    const result = await provider.generate(call);
    return {
      result: { ...result, requestId: undefined, responseId: undefined },
      sent: fake.requests.length - before,
    };
  } catch (error) {
    if (!(error instanceof ProviderFailure)) throw error;
    // A dropped socket is told in the HTTP client's own words (node:http's, undici's).
    const words = error.kind === 'network' ? undefined : error.providerMessage;
    return {
      failure: { ...error, message: error.message, requestId: undefined, providerMessage: words },
      sent: fake.requests.length - before,
    };
  }
};

/** Calls both the streamed and the whole tables make: the fast path must match the SDK. */
const callsOnBothPaths = (kind: ProviderKind): [string, ProviderCallRequest][] => {
  const model = models[kind];
  return [
    ['a plain answer', request(model, 'Name a colour')],
    [
      'cache and reasoning buckets, several settings',
      request(`${model}@cache-read=7,reasoning=2`, 'Cache me', {
        parameters: {
          maxOutputTokens: 32,
          temperature: 0.2,
          topP: 0.9,
          // The SDK's openai provider warns that the Responses API has no stop sequences.
          ...(kind === 'openai-compatible' ? { stopSequences: ['END'] } : {}),
        },
      }),
    ],
    ['no usage', request(`${model}@no-usage`, 'No usage')],
    [
      'a length stop',
      request(model, 'Cut me short please', { parameters: { maxOutputTokens: 2 } }),
    ],
    ['an HTTP 429', request(`${model}@status=429,retry-after=2`, 'busy')],
  ];
};

/** A whole answer with `text` as its content, in a fast-path kind's wire format. */
const cannedAnswer = (kind: ProviderKind, text: string) =>
  kind === 'openai'
    ? responsesAnswer([{ type: 'output_text', annotations: [], text }])
    : `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":${JSON.stringify(text)}},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}`;

/** A Responses API answer: one assistant message with these content parts. */
const responsesAnswer = (content: unknown[]) =>
  JSON.stringify({
    id: 'resp_1',
    object: 'response',
    created_at: 1,
    status: 'completed',
    model: 'm',
    output: [{ id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content }],
    usage: { input_tokens: 3, output_tokens: 5, total_tokens: 8 },
  });

/**
 * Runs `send` through the SDK, then through the fast path, against a server that answers every
 * request with `body`.
 */
async function throughCannedServer<Result>(
  kind: ProviderKind,
  body: string,
  send: (provider: LlmProvider) => Promise<Result>,
) {
  let received = 0;
  const server = http.createServer((incoming, response) => {
    received += 1;
    incoming.resume();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const connectCanned = (fastPath: boolean) =>
    createSdkProvider({ kind, baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY, fastPath });
  try {
    const viaSdk = await send(connectCanned(false));
    const askedBySdk = received;
    const viaWire = await send(connectCanned(true));
    // How many requests each path made.
    return { viaSdk, viaWire, asked: [askedBySdk, received - askedBySdk] };
  } finally {
    server.close();
  }
}

describe.each(['openai-compatible', 'openai'] as const)('%s fast path, whole calls', (kind) => {
  const model = models[kind];

  it.each([
    ...callsOnBothPaths(kind),
    ['an HTTP 500', request(`${model}@status=500`, 'fail')],
    ['an HTTP 400', request(`${model}@status=400`, 'fail')],
    ['a cache write', request(`${model}@cache-read=5,cache-write=3`, 'Cache me')],
    [
      'a conversation with text parts and an image',
      request(model, 'ignored', {
        messages: [
          { role: 'system', content: 'One.' },
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Hello' }] },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in it?' },
              { type: 'image', url: PNG_DATA_URL, mediaType: 'image/png' },
            ],
          },
        ],
      }),
    ],
    // Half a JSON body: the fast path hands it to the SDK, which maps it (not asked again).
    ['a body cut in half', request(`${model}@malformed-after=1`, 'half')],
    ['a dropped connection', request(`${model}@disconnect-after=1`, 'drop')],
    [
      'an output schema (an extract step’s answer)',
      request(model, 'Invoice INV-1 from ACME', { outputSchema: answerSchemaWith('vendor') }),
    ],
    [
      'an output schema cut short (not JSON: the SDK’s "could not parse")',
      request(model, 'Invoice INV-2 from ACME', {
        outputSchema: answerSchemaWith('vendor'),
        parameters: { maxOutputTokens: 3 },
      }),
    ],
    [
      'an answer with a constructor key (whatever the SDK makes of it)',
      request(model, 'Invoice INV-4', { outputSchema: answerSchemaWith('constructor') }),
    ],
    ['images alone, without a media type, after a text turn', imagesAlone(model)],
    ['empty texts, as turns and as parts (`ai` drops the parts)', emptyTexts(model)],
    [
      'a system turn later in the conversation, assistant text parts',
      request(model, 'ignored', {
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'system', content: 'Be brief.' },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Hel' },
              { type: 'text', text: 'lo' },
            ],
          },
          { role: 'user', content: 'Again' },
        ],
      }),
    ],
  ])('answers a whole call as the SDK does, asking once: %s', async (_name, call) => {
    const { viaSdk, viaWire } = await throughBothPaths(kind, generated, call);
    expect(viaWire).toEqual(viaSdk);
    expect(viaWire.sent).toBe(1);
  });

  it('fails a whole call the signal aborts as aborted, and closes its HTTP request', async () => {
    const outcomes = [];
    for (const fastPath of [false, true]) {
      fake.reset();
      const controller = new AbortController();
      const call = request(`${model}@hang`, `hang on ${fastPath}`, { signal: controller.signal });
      const pending = connectKind(kind, fastPath)
        .generate(call)
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      await fake.waitFor(() => true);
      controller.abort();
      const failure = (await pending) as ProviderFailure;
      expect(failure).toBeInstanceOf(ProviderFailure);
      outcomes.push({ kind: failure.kind, retryable: failure.retryable });
      await fake.waitFor((seen) => seen.aborted);
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
    expect(outcomes[0]?.kind).toBe('aborted');
  });

  it('answers a structured output with a __proto__ key as the SDK does, polluting nothing (attack)', async () => {
    // A server whose model answers JSON that would set a prototype if merged carelessly.
    const text = '{"vendor":{"__proto__":{"admin":true},"value":"x"}}';
    const call = request(model, 'x', { outputSchema: answerSchemaWith('vendor') });
    const outcome = async (provider: LlmProvider) =>
      provider.generate(call).then(
        (result) => ({ output: result.output, text: result.text }),
        (error: unknown) => ({ failure: error instanceof ProviderFailure ? error.kind : error }),
      );
    const { viaSdk, viaWire } = await throughCannedServer(kind, cannedAnswer(kind, text), outcome);
    expect(viaWire).toEqual(viaSdk);
    expect(viaSdk).toHaveProperty('failure');
    expect(({} as { admin?: boolean }).admin).toBeUndefined();
  });
});

describe('openai-compatible fast path', () => {
  const model = models['openai-compatible'];

  it.each([
    ...callsOnBothPaths('openai-compatible'),
    [
      'a conversation with text parts',
      request(model, 'ignored', {
        messages: [
          { role: 'system', content: 'One.' },
          { role: 'system', content: 'Two.' },
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Hello' }] },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
        ],
      }),
    ],
    ['an in-stream error', request(`${model}@error-after=2`, 'boom')],
    [
      'an image as a data URL, with its media type',
      request(model, 'ignored', {
        messages: [
          { role: 'system', content: 'Describe.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in it?' },
              { type: 'image', url: PNG_DATA_URL, mediaType: 'image/png' },
            ],
          },
        ],
      }),
    ],
    ['images alone, without a media type, after a text turn', imagesAlone(model)],
    ['empty texts, as turns and as parts (`ai` drops the parts)', emptyTexts(model)],
  ])('sends the body the SDK sends and yields the same events: %s', async (_name, call) => {
    const { viaSdk, viaWire } = await throughBothPaths('openai-compatible', collect, call);
    const strip = (events: ProviderStreamEvent[]) =>
      events.map((event) =>
        event.type === 'finish' ? { ...event, requestId: undefined, responseId: undefined } : event,
      );
    // Request ids differ per request (and the fast path keeps one on an in-stream error).
    const failureOf = (failure: ProviderFailure | undefined) =>
      failure && { ...failure, message: failure.message, requestId: undefined };
    expect(failureOf(viaWire.failure)).toEqual(failureOf(viaSdk.failure));
    expect(strip(viaWire.events)).toEqual(strip(viaSdk.events));
    expect(viaWire.finish?.requestId ?? viaWire.failure?.requestId).toMatch(/^req_/);
  });

  it('parses a whole call’s structured output itself, and hands a hostile one to the SDK', async () => {
    const client = createWireClient({
      kind: 'openai-compatible',
      baseUrl: `${fake.url}/v1`,
      apiKey: API_KEY,
      secrets: [API_KEY],
    });
    try {
      const plain = await client.generate(
        request(model, 'Invoice INV-5', { outputSchema: answerSchemaWith('vendor') }),
      );
      expect(plain.replay).toBeUndefined();
      if (plain.replay) return;
      const output = plain.result.output as { vendor: { value: unknown } };
      expect(Object.keys(output)).toEqual(['vendor']);
      expect(JSON.stringify(output)).toBe(plain.result.text);
    } finally {
      client.close();
    }
  });

  it.each([
    ['', undefined],
    ['not json', undefined],
    ['{"cut": ', undefined],
    ['null', undefined],
    ['{"a":{"value":1,"page":1,"quote":"x"}}', { a: { value: 1, page: 1, quote: 'x' } }],
    ['[1,"two"]', [1, 'two']],
    ['{"__proto__":{"admin":true}}', undefined],
    ['{"a":[{"\\u005f_proto__":{"admin":true}}]}', undefined],
    ['{"a":{"constructor":{"prototype":{}}}}', undefined],
  ])('structured output of %j (the SDK’s parse, or left to it)', (text, expected) => {
    expect(structuredOutput(text)).toEqual(expected);
  });

  it('leaves a whole call with tools to the SDK, even with the choice "none"', () => {
    const call = request(model, 'x', { tools: WEATHER_TOOLS, toolChoice: 'none' });
    expect(wireEligible('openai-compatible', call)).toBe(true);
    expect(wireGenerateEligible('openai-compatible', call)).toBe(false);
    expect(wireGenerateEligible('openai-compatible', request(model, 'x'))).toBe(true);
  });

  it('takes a whole call with an output schema, and leaves a streamed one to the SDK', () => {
    const call = request(model, 'x', { outputSchema: { type: 'object' } });
    expect(wireGenerateEligible('openai-compatible', call)).toBe(true);
    expect(wireEligible('openai-compatible', call)).toBe(false);
    expect(wireGenerateEligible('openai', call)).toBe(false);
  });

  it.each([
    ['tools', { tools: WEATHER_TOOLS }],
    ['an output schema', { outputSchema: { type: 'object' } }],
    ['a reasoning effort', { parameters: { reasoningEffort: 'low' as const } }],
    [
      'an image at an https URL (the SDK downloads it)',
      {
        messages: [
          {
            role: 'user' as const,
            content: [{ type: 'image' as const, url: 'https://example.com/a.png' }],
          },
        ],
      },
    ],
    [
      'an image whose media type is not its data URL’s',
      {
        messages: [
          {
            role: 'user' as const,
            content: [{ type: 'image' as const, url: PNG_DATA_URL, mediaType: 'image/jpeg' }],
          },
        ],
      },
    ],
    [
      'an image as a data URL that is not base64',
      {
        messages: [
          {
            role: 'user' as const,
            content: [{ type: 'image' as const, url: 'data:image/svg+xml,%3Csvg%2F%3E' }],
          },
        ],
      },
    ],
  ])('leaves a call with %s to the SDK', (_name, extra) => {
    expect(wireEligible('openai-compatible', request(model, 'x', extra))).toBe(false);
  });

  it('splits server-sent events on LF, CRLF and CR, across chunk boundaries', async () => {
    async function* chunks() {
      yield 'data: {"a":1}\n\nda';
      yield 'ta: two\r\ndata: lines\r';
      yield '\n\r\n: comment\revent: x\rdata:three\r\r';
      yield 'data: [DONE]\n\n';
    }
    const seen: string[] = [];
    for await (const data of sseData(chunks())) seen.push(data);
    expect(seen).toEqual(['{"a":1}', 'two\nlines', 'three', '[DONE]']);
  });
});

describe('openai fast path (Responses API)', () => {
  it('parses a plain Responses answer itself: output, usage buckets, ids', async () => {
    const client = createResponsesClient({
      kind: 'openai',
      baseUrl: `${fake.url}/v1`,
      apiKey: API_KEY,
      secrets: [API_KEY],
    });
    const openaiModel = models.openai;
    try {
      const plain = await client.generate(
        request(`${openaiModel}@cache-read=4,reasoning=2`, 'Invoice INV-6', {
          outputSchema: answerSchemaWith('vendor'),
        }),
      );
      expect(plain.replay).toBeUndefined();
      if (plain.replay) return;
      expect(JSON.stringify(plain.result.output)).toBe(plain.result.text);
      expect(plain.result.usage).toMatchObject({ cacheReadTokens: 4, reasoningTokens: 2 });
      expect(plain.result.requestId).toMatch(/^req_/);
      expect(plain.result.responseId).toMatch(/^resp_/);
    } finally {
      client.close();
    }
  });

  it.each(['gpt-4o-mini', 'gpt-4.1-nano', 'ft:gpt-4o-mini:acme::abc123', 'my-local-model'])(
    'takes a whole call to %s, a model the SDK sends as it is',
    (model) => {
      expect(responsesGenerateEligible('openai', request(model, 'x'))).toBe(true);
    },
  );

  it.each([
    ['a reasoning model (o-series)', request('o3-mini', 'x')],
    ['a reasoning model (listed: GPT-5.3 chat)', request('gpt-5.3-chat-latest', 'x')],
    ['a reasoning model (unlisted GPT-7)', request('gpt-7-preview', 'x')],
    ['a reasoning model (GPT-5)', request('gpt-5-mini', 'x')],
    ['a setting the SDK warns about', request(models.openai, 'x', { parameters: { seed: 1 } })],
    ['tools', request(models.openai, 'x', { tools: WEATHER_TOOLS, toolChoice: 'none' })],
    [
      'a schema the SDK rewrites',
      request(models.openai, 'x', {
        outputSchema: { type: 'object', properties: { a: { type: 'string', pattern: '^a' } } },
      }),
    ],
    [
      'an image at an https URL',
      request(models.openai, 'x', {
        messages: [
          { role: 'user', content: [{ type: 'image', url: 'https://example.com/a.png' }] },
        ],
      }),
    ],
  ])('leaves an openai whole call with %s to the SDK', (_name, call) => {
    expect(responsesGenerateEligible('openai', call)).toBe(false);
    expect(responsesGenerateEligible('openai', request(models.openai, 'x'))).toBe(true);
    expect(responsesGenerateEligible('openai-compatible', request(models.openai, 'x'))).toBe(false);
  });

  it.each([
    ['a refusal', [{ type: 'refusal', refusal: 'I cannot help with that.' }]],
    [
      'a citation',
      [
        {
          type: 'output_text',
          text: 'See it.',
          annotations: [
            { type: 'url_citation', start_index: 0, end_index: 3, url: 'https://a.b', title: 't' },
          ],
        },
      ],
    ],
  ])('hands an answer with %s to the SDK, asking once', async (_name, content) => {
    const call = request(models.openai, 'x');
    const { viaSdk, viaWire, asked } = await throughCannedServer(
      'openai',
      responsesAnswer(content),
      (provider) => generated(provider, call),
    );
    expect(viaWire).toEqual(viaSdk);
    expect(asked).toEqual([1, 1]);
  });
});
