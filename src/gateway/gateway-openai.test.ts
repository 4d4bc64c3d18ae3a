import net from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { rejectionOf } from '../../test/rejection.ts';
import type { TestApp } from '../../test/test-platform.ts';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import type { FakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import { type GatewayTestEnv, startGatewayEnv } from './gateway-test-env.ts';

/**
 * The gateway through the official `openai` npm client, over real HTTP, routed to
 * tools/fake-llm: only `baseURL` and `apiKey` differ from calling OpenAI.
 */

let env: GatewayTestEnv;
let t: TestApp;
let fake: FakeLlm;
let team: ProjectWithMembers;
let baseURL: string;
let openaiProvider: string;
let anthropicProvider: string;

beforeAll(async () => {
  env = await startGatewayEnv('sk-test-gateway-provider-key-0123456789');
  ({ t, fake, team } = env);
  baseURL = `${env.origin}/v1`;
  openaiProvider = env.providers.openai;
  anthropicProvider = env.providers.anthropic;
});
afterAll(() => env?.close());
beforeEach(() => fake.reset());

interface KeyBody {
  name?: string;
  models?: Record<string, unknown>[];
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  budgets?: { period: string; hardLimitNano: number }[];
  cache?: boolean;
}

/** A key of `project` with two names for gpt-4o-mini (`openai/gpt-4o-mini`, `fast`) by default. */
const createKey = (body: KeyBody = {}, project: ProjectWithMembers = team) =>
  env.createKey(
    {
      models: [
        { provider: openaiProvider, model: 'gpt-4o-mini' },
        { name: 'fast', provider: openaiProvider, model: 'gpt-4o-mini' },
      ],
      ...body,
    },
    project,
  );

const client = (apiKey: string) => new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const usageRows = (keyId: string) => env.usageRows(keyId);
const apiError = (promise: Promise<unknown>) => rejectionOf(OpenAI.APIError, promise);
/** How a one-line question to `model` with `key` is refused. */
const refusalOf = (key: string, model: string) =>
  apiError(
    client(key).chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] }),
  );

async function errorOf(response: Response): Promise<Record<string, unknown>> {
  return ((await response.json()) as { error: Record<string, unknown> }).error;
}

describe('keys', () => {
  it('creates a key shown once, names models with the provider prefix, and audits it', async () => {
    const created = await createKey();
    expect(created.key).toMatch(/^bcgw_/);
    expect(created.models.map((model) => model.name)).toEqual(['openai/gpt-4o-mini', 'fast']);
    const list = await t.app.inject({
      method: 'GET',
      url: `/api/projects/${team.project.id}/gateway/keys`,
      headers: team.editor.headers,
    });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(created.key);
    const audit = await t.platform.database.db
      .selectFrom('audit_log')
      .select('action')
      .where('entity_id', '=', created.id)
      .execute();
    expect(audit.map((row) => row.action)).toEqual(['gateway-key.create']);
  });

  it('lets only owners manage keys, answers 404 to outsiders, and names bad fields', async () => {
    const url = `/api/projects/${team.project.id}/gateway/keys`;
    const payload = { name: 'x', models: [{ provider: openaiProvider, model: 'gpt-4o-mini' }] };
    const byEditor = await t.app.inject({
      method: 'POST',
      url,
      headers: team.editor.headers,
      payload,
    });
    expect(byEditor.statusCode).toBe(403);
    const byOutsider = await t.app.inject({ method: 'GET', url, headers: team.outsider.headers });
    expect(byOutsider.statusCode).toBe(404);
    const bad = await t.app.inject({
      method: 'POST',
      url,
      headers: team.owner.headers,
      payload: { name: 'x', models: [{ model: 'gpt-4o-mini' }], requestsPerMinute: 0 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'requestsPerMinute' })]),
    );
    const unnamed = await t.app.inject({
      method: 'POST',
      url,
      headers: team.owner.headers,
      payload: { name: 'x', models: [{ model: 'gpt-4o-mini' }] },
    });
    expect(unnamed.statusCode).toBe(400);
    expect(unnamed.json().error.details.issues[0].path).toBe('models.0.name');
    const count = await t.platform.database.db
      .selectFrom('gateway_key')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('name', '=', 'x')
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });

  it('refuses a revoked key, a made-up key and no key, in the OpenAI error format', async () => {
    const { id, key } = await createKey();
    expect((await client(key).models.list()).data.length).toBe(2);
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/api/projects/${team.project.id}/gateway/keys/${id}`,
      headers: team.owner.headers,
    });
    expect(revoke.statusCode).toBe(204);
    // The key cache of this server is dropped at once on revocation.
    const revoked = await apiError(client(key).models.list());
    expect(revoked.status).toBe(401);
    expect(revoked.type).toBe('authentication_error');
    const madeUp = await apiError(client(`bcgw_${'a'.repeat(43)}`).models.list());
    expect(madeUp.status).toBe(401);
    const none = await fetch(`${baseURL}/models`);
    expect(none.status).toBe(401);
    expect((await errorOf(none)).code).toBe('invalid_api_key');
    // A Brain Cells session cookie is no gateway key.
    const withCookie = await t.app.inject({
      method: 'GET',
      url: '/v1/models',
      headers: team.owner.headers,
    });
    expect(withCookie.statusCode).toBe(401);
  });
});

describe('POST /v1/chat/completions', () => {
  const weatherTool: OpenAI.ChatCompletionTool = {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' } },
        required: ['city'],
      },
    },
  };

  it('returns tool calls (streamed and not) and answers after the tool result', async () => {
    const { key } = await createKey();
    const question = `Weather in Lisbon ${Math.random()}? call:get_weather`;
    const first = await client(key).chat.completions.create({
      model: 'fast',
      messages: [{ role: 'user', content: question }],
      tools: [weatherTool],
    });
    const call = first.choices[0]?.message.tool_calls?.[0];
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    if (call?.type !== 'function') throw new Error('no function call');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toMatchObject({ city: expect.any(String) });

    const streamed = await client(key).chat.completions.create({
      model: 'fast',
      messages: [{ role: 'user', content: question }],
      tools: [weatherTool],
      stream: true,
    });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    for await (const chunk of streamed) deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
    expect(deltas).toEqual([
      expect.objectContaining({
        index: 0,
        function: expect.objectContaining({ name: 'get_weather' }),
      }),
    ]);

    const answer = await client(key).chat.completions.create({
      model: 'fast',
      tools: [weatherTool],
      messages: [
        { role: 'user', content: question },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"temperatureC":21}' },
      ],
    });
    expect(answer.choices[0]?.finish_reason).toBe('stop');
    expect(answer.choices[0]?.message.content).not.toBe('');
    expect(JSON.stringify(fake.requests.at(-1)?.body)).toContain('temperatureC');
  });

  it('answers JSON that fits a json_schema response format', async () => {
    const { key } = await createKey();
    const completion = await client(key).chat.completions.create({
      model: 'fast',
      messages: [{ role: 'user', content: `A city ${Math.random()}` }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'city',
          schema: {
            type: 'object',
            properties: { name: { type: 'string' }, population: { type: 'integer' } },
            required: ['name', 'population'],
            additionalProperties: false,
          },
        },
      },
    });
    const value = JSON.parse(completion.choices[0]?.message.content ?? '');
    expect(value).toMatchObject({ name: expect.any(String), population: expect.any(Number) });
  });

  it('sends an image in a message to the provider', async () => {
    const { key } = await createKey();
    const pixel =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const completion = await client(key).chat.completions.create({
      model: 'fast',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: pixel } },
          ],
        },
      ],
    });
    expect(completion.choices[0]?.message.content).not.toBe('');
    expect(JSON.stringify(fake.requests.at(-1)?.body)).toContain('iVBORw0KGgo');
  });
});

describe('bad input and faults, in the OpenAI error format', () => {
  it('answers 404 naming a model the key may not use', async () => {
    const { key } = await createKey();
    const error = await refusalOf(key, 'gpt-4o');
    expect(error.status).toBe(404);
    expect(error.code).toBe('model_not_found');
    expect(error.message).toContain('gpt-4o');
    expect(fake.requests).toHaveLength(0);
  });

  it('answers 400 naming the field of a malformed body, before any request', async () => {
    const { key } = await createKey();
    const cases: [unknown, string][] = [
      [{ model: 'fast' }, 'messages'],
      [{ model: 'fast', messages: [{ role: 'wizard', content: 'x' }] }, 'messages.0.role'],
      [
        { model: 'fast', messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }] },
        'messages.0.tool_call_id',
      ],
      [
        { model: 'fast', messages: [{ role: 'user', content: 'x' }], temperature: 9 },
        'temperature',
      ],
      [
        {
          model: 'fast',
          messages: [
            {
              role: 'assistant',
              tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{' } }],
            },
          ],
        },
        'messages.0.tool_calls.0.function.arguments',
      ],
    ];
    for (const [body, param] of cases) {
      const response = await fetch(`${baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
      const payload = { error: await errorOf(response) };
      expect(payload.error).toMatchObject({ type: 'invalid_request_error', param });
      expect(payload.error.request_id).toBe(response.headers.get('x-request-id'));
    }
    const notJson = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"model":',
    });
    expect(notJson.status).toBe(400);
    expect((await errorOf(notJson)).type).toBe('invalid_request_error');
    expect(fake.requests).toHaveLength(0);
  });

  it('answers 413 to an oversized body', async () => {
    const { key } = await createKey();
    const response = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'fast',
        messages: [{ role: 'user', content: 'x'.repeat(21 * 1024 * 1024) }],
      }),
    });
    expect(response.status).toBe(413);
    expect((await errorOf(response)).type).toBe('invalid_request_error');
  });

  it('falls back to the next model on a 500 and answers from it', async () => {
    const { id, key } = await createKey({
      models: [
        {
          name: 'resilient',
          provider: openaiProvider,
          model: 'gpt-4o-mini@status=500',
          fallbacks: [{ provider: anthropicProvider, model: 'claude-3-5-haiku-latest' }],
        },
      ],
    });
    const prompt = `Fallback ${Math.random()}`;
    const completion = await client(key).chat.completions.create({
      model: 'resilient',
      messages: [{ role: 'user', content: prompt }],
    });
    expect(completion.choices[0]?.message.content).toBe(fakeAnswer(prompt));
    const rows = await usageRows(id);
    expect(rows.map((row) => row.status)).toEqual(['error', 'error', 'error', 'ok']);
    expect(rows.at(-1)?.provider_kind).toBe('anthropic');
  });

  it('answers 502 with our request id when every target fails', async () => {
    const { key } = await createKey({
      models: [{ name: 'broken', provider: openaiProvider, model: 'gpt-4o-mini@status=503' }],
    });
    const error = await refusalOf(key, 'broken');
    expect(error.status).toBe(502);
    expect(error.type).toBe('api_error');
    expect(error.requestID).toBeTruthy();
    expect((error.error as { request_id?: string }).request_id).toBe(error.requestID);
  });
});

/** Fifty concurrent calls with `key`, streamed ones read to the end: 'ok' or the error. */
const fiftyCallers = (
  key: string,
  request: (index: number) => OpenAI.Chat.ChatCompletionCreateParams,
): Promise<unknown[]> =>
  Promise.all(
    Array.from({ length: 50 }, (_, index) =>
      client(key)
        .chat.completions.create(request(index))
        .then(async (result) => {
          if (Symbol.asyncIterator in result) for await (const _chunk of result) void _chunk;
          return 'ok' as const;
        })
        .catch((error: unknown) => error),
    ),
  );

/** How many calls answered, and the 429s among the rest. */
const tally = (outcomes: unknown[]) => ({
  ok: outcomes.filter((outcome) => outcome === 'ok').length,
  limited: outcomes.filter(
    (outcome) => outcome instanceof OpenAI.APIError && outcome.status === 429,
  ) as InstanceType<typeof OpenAI.APIError>[],
});

describe('limits under concurrency', () => {
  it('lets at most the requests-per-minute through among 50 concurrent callers', async () => {
    const { key } = await createKey({ requestsPerMinute: 10 });
    const outcomes = await fiftyCallers(key, (index) => ({
      model: 'fast',
      messages: [{ role: 'user', content: `rpm ${index}` }],
      max_tokens: 5,
    }));
    const { ok, limited } = tally(outcomes);
    expect(ok + limited.length).toBe(50);
    // One minute window (two if the calls straddle a minute boundary).
    expect(ok).toBeGreaterThanOrEqual(10);
    expect(ok).toBeLessThanOrEqual(20);
    expect(limited[0]?.type).toBe('rate_limit_error');
    expect(Number(limited[0]?.headers?.get('retry-after'))).toBeGreaterThan(0);
  });

  it('refuses a request whose token estimate exceeds the tokens per minute', async () => {
    const { key } = await createKey({ tokensPerMinute: 100 });
    const error = await apiError(
      client(key).chat.completions.create({
        model: 'fast',
        messages: [{ role: 'user', content: 'Hi' }],
        max_tokens: 500,
      }),
    );
    expect(error.status).toBe(429);
    expect(error.message).toContain('tokens per minute');
    expect(fake.requests).toHaveLength(0);
  });

  it('holds no more token estimates than the tokens per minute among 50 concurrent callers', async () => {
    // The provider holds every admitted call open, so no estimate is settled to usage
    // (a settled call frees its unused estimate for others): what is in flight is what fits.
    const tokensPerMinute = 1_000;
    const { id, key } = await createKey({
      tokensPerMinute,
      models: [{ name: 'held', provider: openaiProvider, model: 'gpt-4o-mini@hang' }],
    });
    const controller = new AbortController();
    let refused = 0;
    const outcomes = Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        client(key)
          .chat.completions.create(
            {
              model: 'held',
              messages: [{ role: 'user', content: `tpm ${index}` }],
              max_tokens: 60,
            },
            { signal: controller.signal },
          )
          .catch((error: unknown) => {
            if (!controller.signal.aborted) refused += 1;
            return error;
          }),
      ),
    );
    // Every caller is either refused (answered) or held at the provider.
    await eventually(
      () => refused + fake.requests.length,
      (count) => count === 50,
      { what: 'every caller refused or at the provider' },
    );
    const admitted = fake.requests.length;
    const windows = await t.platform.database.db
      .selectFrom('gateway_key_window')
      .select(['requests', 'tokens'])
      .where('key_id', '=', id)
      .execute();
    expect(windows.reduce((sum, window) => sum + Number(window.requests), 0)).toBe(admitted);
    for (const window of windows)
      expect(Number(window.tokens)).toBeLessThanOrEqual(tokensPerMinute);
    // Each estimate is over 60 tokens: at most 16 fit a minute (two minutes at a boundary).
    expect(admitted).toBeLessThanOrEqual(32);
    controller.abort();
    const { limited } = tally(await outcomes);
    expect(limited.length).toBe(refused);
    expect(refused).toBeGreaterThan(0);
    expect(limited[0]?.message).toContain('tokens per minute');
    // The callers hung up: every held upstream call is aborted.
    await fake.waitFor((_, all) => all.every((request) => request.aborted), 30_000);
  });
});

describe('cache and disconnects', () => {
  it('serves repeats from the cache only for keys that opt in, never across projects', async () => {
    const cached = await createKey({ cache: true });
    const uncached = await createKey({ cache: false });
    const other = await createProjectWithMembers(t);
    const otherProvider = await env.createProvider(other, 'openai');
    const foreign = await createKey(
      { cache: true, models: [{ name: 'fast', provider: otherProvider, model: 'gpt-4o-mini' }] },
      other,
    );
    const ask = (key: string) =>
      client(key).chat.completions.create({
        model: 'fast',
        messages: [{ role: 'user', content: 'The same question' }],
      });
    await ask(cached.key);
    expect(fake.requests).toHaveLength(1);
    await ask(cached.key);
    expect(fake.requests).toHaveLength(1);
    const hits = await usageRows(cached.id);
    expect(hits.map((row) => row.status)).toEqual(['ok', 'cache-hit']);
    await ask(uncached.key);
    await ask(uncached.key);
    expect(fake.requests).toHaveLength(3);
    await ask(foreign.key);
    expect(fake.requests).toHaveLength(4);
  });
});

// The calls above through both OpenAI upstreams: an `openai` connection goes through the AI
// SDK, plain calls to an `openai-compatible` one take the adapter's fast path
// (src/llm/llm-sdk-wire.ts). Both keep usage rows, budgets and aborts alike.
describe.each(['openai', 'openai-compatible'] as const)('through an %s connection', (kind) => {
  const provider = () => env.providers[kind];
  /** `openai/gpt-4o-mini` and `fast`, both on this connection. */
  const models = () => [
    { name: 'openai/gpt-4o-mini', provider: provider(), model: 'gpt-4o-mini' },
    { name: 'fast', provider: provider(), model: 'gpt-4o-mini' },
  ];

  it('answers without streaming, with usage, and records a usage row with the key id', async () => {
    const { id, key } = await createKey({ models: models() });
    const prompt = `Name a river ${Math.random()}`;
    const completion = await client(key).chat.completions.create({
      model: 'fast',
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: prompt },
      ],
      max_tokens: 50,
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('fast');
    expect(completion.choices[0]?.message.content).toBe(fakeAnswer(prompt));
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(completion.usage?.completion_tokens).toBe(fakeAnswer(prompt).split(' ').length);
    const rows = await usageRows(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      feature: 'gateway',
      status: 'ok',
      model: 'gpt-4o-mini',
      provider_ref: provider(),
      user_id: team.owner.user.id,
    });
    // gpt-4o-mini is priced: $0.15 / $0.60 per Mtok.
    expect(Number(rows[0]?.cost_nano)).toBe(
      (completion.usage?.prompt_tokens ?? 0) * 150 +
        (completion.usage?.completion_tokens ?? 0) * 600,
    );
  });

  it('streams deltas and a last chunk with usage when include_usage is set', async () => {
    const { id, key } = await createKey({ models: models() });
    const prompt = `Name a lake ${Math.random()}`;
    const stream = await client(key).chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: prompt }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      chunks += 1;
      text += chunk.choices[0]?.delta.content ?? '';
      finish ??= chunk.choices[0]?.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(fakeAnswer(prompt));
    expect(chunks).toBeGreaterThan(3);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(fakeAnswer(prompt).split(' ').length);
    // Only the SDK names itself in the user agent: the openai-compatible call took the fast path.
    expect(String(fake.requests.at(-1)?.headers['user-agent']).includes('ai-sdk')).toBe(
      kind === 'openai',
    );
    const rows = await usageRows(id);
    expect(rows[0]?.ttft_ms).not.toBeNull();
    expect(Number(rows[0]?.cost_nano)).toBeGreaterThan(0);
  });

  it('ends a streamed answer after its last event, so the connection carries the next call', async () => {
    const { key } = await createKey({ models: models() });
    const request = (prompt: string) => {
      const body = JSON.stringify({
        model: 'fast',
        stream: true,
        messages: [{ role: 'user', content: prompt }],
      });
      return (
        `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${key}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
      );
    };
    // Two calls one after the other on one keep-alive connection, read as raw bytes.
    const { port } = new URL(env.origin);
    const socket = net.connect(Number(port), '127.0.0.1');
    let received = '';
    const receivedUntil = (done: (text: string) => boolean) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!done(received)) return;
          socket.off('data', onData);
          resolve();
        };
        const onData = (chunk: Buffer) => {
          received += chunk.toString('utf8');
          check();
        };
        socket.on('data', onData);
        socket.once('error', reject);
        check();
      });
    const lastChunk = '\r\n0\r\n\r\n';
    try {
      socket.write(request(`Name a sea ${Math.random()}`));
      await receivedUntil((text) => text.includes(lastChunk));
      socket.write(request(`Name a bay ${Math.random()}`));
      await receivedUntil((text) => text.split(lastChunk).length > 2);
    } finally {
      socket.destroy();
    }
    const [first, second] = received.split(lastChunk);
    // The first answer's events all came before its last chunk; the second answer follows
    // it directly (nothing of the first one after it).
    expect(first).toMatch(/^HTTP\/1\.1 200 /);
    expect(first?.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    expect(second?.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('never lets 50 concurrent callers overshoot the key budget by more than one estimate', async () => {
    const limit = 100_000;
    const { id, key } = await createKey({
      models: models(),
      budgets: [{ period: 'day', hardLimitNano: limit }],
    });
    // Streamed calls are charged too (fiftyCallers reads them to the end).
    const outcomes = await fiftyCallers(key, (index) => ({
      model: 'fast',
      messages: [{ role: 'user', content: `budget ${index}` }],
      max_tokens: 20,
      stream: index % 2 === 0,
    }));
    const refused = outcomes.filter(
      (outcome) => outcome instanceof OpenAI.APIError && outcome.status === 402,
    ) as InstanceType<typeof OpenAI.APIError>[];
    const ok = outcomes.filter((outcome) => outcome === 'ok').length;
    expect(ok).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(ok + refused.length).toBe(50);
    expect(refused[0]?.code).toBe('budget_exceeded');
    expect(refused[0]?.message).toContain('gateway key');
    await t.app.llm.llm.flush();
    const rows = await usageRows(id);
    const spent = rows.reduce((sum, row) => sum + Number(row.cost_nano ?? 0), 0);
    // Reservations hold the maximum cost of each call: spend never passes the limit.
    expect(spent).toBeLessThanOrEqual(limit);
    const budgets = await t.app.inject({
      method: 'GET',
      url: `/api/projects/${team.project.id}/gateway/keys`,
      headers: team.owner.headers,
    });
    const mine = budgets.json().items.find((item: { id: string }) => item.id === id);
    expect(mine.budgets[0]).toMatchObject({ period: 'day', reservedNano: 0, spentNano: spent });
  });
  it('aborts the upstream call when the client disconnects mid-stream, charging what arrived', async () => {
    const { id, key } = await createKey({
      models: [{ name: 'slow', provider: provider(), model: 'gpt-4o-mini@tps=20' }],
    });
    const stream = await client(key).chat.completions.create({
      model: 'slow',
      messages: [{ role: 'user', content: 'A long answer please' }],
      stream: true,
    });
    let chunks = 0;
    for await (const _chunk of stream) {
      if (++chunks === 3) break; // closes the connection
    }
    await fake.waitFor((request) => request.aborted, 10_000);
    expect(fake.requests[0]?.aborted).toBe(true);
    await expect
      .poll(async () => (await usageRows(id)).map((row) => row.status))
      .toEqual(['aborted']);
    const [row] = await usageRows(id);
    expect(row?.usage_estimated).toBe(true);
    expect(Number(row?.output_tokens)).toBeGreaterThan(0);
    expect(Number(row?.output_tokens)).toBeLessThan(
      fakeAnswer('A long answer please').split(' ').length,
    );
    // A hang-up is logged at info with the request id, never as an internal error.
    const lines = t.platform.logs.lines;
    const gone = lines.find(
      (line) => line.msg === 'gateway client disconnected; upstream call aborted',
    );
    expect(gone?.level).toBe('info');
    expect(gone?.requestId).toEqual(expect.any(String));
    expect(
      lines.filter((line) => line.level === 'error' && line.requestId === gone?.requestId),
    ).toEqual([]);
  });
});
