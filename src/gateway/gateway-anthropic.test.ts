import Anthropic from '@anthropic-ai/sdk';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rejectionOf } from '../../test/rejection.ts';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import { type GatewayTestEnv, startGatewayEnv } from './gateway-test-env.ts';

/**
 * The gateway's Anthropic Messages protocol through the official `@anthropic-ai/sdk` client,
 * over real HTTP; the models behind it are an Anthropic and an OpenAI connection to
 * tools/fake-llm (the wire format in front does not depend on the provider behind).
 */

let env: GatewayTestEnv;
let key: string;
let keyId: string;

beforeAll(async () => {
  env = await startGatewayEnv('sk-test-gateway-anthropic-provider-0123456789');
  const created = await env.createKey({
    name: 'claude code',
    models: [
      { provider: env.providers.anthropic, model: 'claude-3-5-haiku-latest' },
      { name: 'gpt', provider: env.providers.openai, model: 'gpt-4o-mini' },
    ],
  });
  key = created.key;
  keyId = created.id;
});
afterAll(() => env?.close());
beforeEach(() => env.fake.reset());

const client = () => new Anthropic({ baseURL: env.origin, apiKey: key, maxRetries: 0 });
const MODEL = 'anthropic/claude-3-5-haiku-latest';

const weather: Anthropic.Tool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

describe('POST /v1/messages', () => {
  it('answers a message without streaming, with usage', async () => {
    const prompt = `Name a mountain ${Math.random()}`;
    const message = await client().messages.create({
      model: MODEL,
      max_tokens: 64,
      system: 'Be terse.',
      messages: [{ role: 'user', content: prompt }],
    });
    expect(message.type).toBe('message');
    expect(message.model).toBe(MODEL);
    expect(message.content).toEqual([{ type: 'text', text: fakeAnswer(prompt) }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBe(fakeAnswer(prompt).split(' ').length);
  });

  it('streams text through the SDK message stream, with the final usage', async () => {
    const prompt = `Name a desert ${Math.random()}`;
    const stream = client().messages.stream({
      model: 'gpt',
      max_tokens: 64,
      messages: [{ role: 'user', content: prompt }],
    });
    let text = '';
    stream.on('text', (delta) => {
      text += delta;
    });
    const message = await stream.finalMessage();
    expect(text).toBe(fakeAnswer(prompt));
    expect(message.content).toEqual([
      expect.objectContaining({ type: 'text', text: fakeAnswer(prompt) }),
    ]);
    expect(message.usage.output_tokens).toBe(fakeAnswer(prompt).split(' ').length);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
  });

  it('returns tool_use blocks (streamed and not) and answers after the tool_result', async () => {
    const question = `Weather in Rome ${Math.random()}? call:get_weather`;
    const first = await client().messages.create({
      model: MODEL,
      max_tokens: 64,
      tools: [weather],
      messages: [{ role: 'user', content: question }],
    });
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((block) => block.type === 'tool_use');
    if (use?.type !== 'tool_use') throw new Error('no tool_use');
    expect(use).toMatchObject({ name: 'get_weather', input: { city: expect.any(String) } });

    const streamed = await client()
      .messages.stream({
        model: MODEL,
        max_tokens: 64,
        tools: [weather],
        messages: [{ role: 'user', content: question }],
      })
      .finalMessage();
    expect(streamed.content).toEqual([
      expect.objectContaining({ type: 'tool_use', name: 'get_weather', input: use.input }),
    ]);

    const answer = await client().messages.create({
      model: MODEL,
      max_tokens: 64,
      tools: [weather],
      messages: [
        { role: 'user', content: question },
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: use.id, content: '{"temperatureC":19}' }],
        },
      ],
    });
    expect(answer.stop_reason).toBe('end_turn');
    expect(answer.content[0]?.type).toBe('text');
    expect(JSON.stringify(env.fake.requests.at(-1)?.body)).toContain('temperatureC');
  });

  it('sends a base64 image block to the provider', async () => {
    const data =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const message = await client().messages.create({
      model: MODEL,
      max_tokens: 32,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data } },
            { type: 'text', text: 'What is this?' },
          ],
        },
      ],
    });
    expect(message.content[0]?.type).toBe('text');
    expect(JSON.stringify(env.fake.requests.at(-1)?.body)).toContain('iVBORw0KGgo');
  });

  it('lists the key models in the Anthropic format', async () => {
    const page = await client().models.list();
    expect(page.data.map((model) => model.id)).toEqual([MODEL, 'gpt']);
    expect(page.data[0]?.type).toBe('model');
  });

  it('records usage rows with feature gateway and the key id, and spend per key', async () => {
    await client().messages.create({
      model: 'gpt',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'Count me' }],
    });
    await env.t.app.llm.llm.flush();
    const rows = await env.t.platform.database.db
      .selectFrom('llm_calls')
      .select(['feature', 'status'])
      .where(sql<boolean>`entity_ids ->> 'gatewayKeyId' = ${keyId}`)
      .execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row.feature === 'gateway')).toBe(true);
    // The project's spend page breaks gateway spend down by key.
    const spend = await env.t.app.inject({
      method: 'GET',
      url: `/api/projects/${env.team.project.id}/llm/spend/by-entity?by=gateway-key&since=1d`,
      headers: env.team.owner.headers,
    });
    expect(spend.statusCode, spend.body).toBe(200);
    const row = spend.json().rows.find((entry: { entityId: string }) => entry.entityId === keyId);
    expect(row?.calls).toBe(rows.length);
  });
});

describe('errors in the Anthropic format', () => {
  const apiError = (promise: Promise<unknown>) => rejectionOf(Anthropic.APIError, promise);

  it('answers 404 not_found_error for a model the key may not use', async () => {
    const error = await apiError(
      client().messages.create({
        model: 'claude-opus-4',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    );
    expect(error.status).toBe(404);
    expect(error.error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(error.requestID).toBeTruthy();
  });

  it('answers 400 naming the missing field, before any request', async () => {
    const response = await fetch(`${env.origin}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': key,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toContain('max_tokens');
    expect(env.fake.requests).toHaveLength(0);
  });

  it('answers 401 authentication_error to a wrong key', async () => {
    const error = await apiError(
      new Anthropic({
        baseURL: env.origin,
        apiKey: 'sk-test-not-a-gateway-key',
        maxRetries: 0,
      }).messages.create({
        model: MODEL,
        max_tokens: 16,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    );
    expect(error.status).toBe(401);
    expect(error.error).toMatchObject({ error: { type: 'authentication_error' } });
  });
});
