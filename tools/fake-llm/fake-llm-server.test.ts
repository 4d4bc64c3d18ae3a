import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakeAnswer } from './fake-llm-output.ts';
import { type FakeLlm, startFakeLlm } from './fake-llm-server.ts';

let fake: FakeLlm;

beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
});

const anthropicHeaders = { 'x-api-key': 'test-key', 'anthropic-version': '2023-06-01' };

function post(path: string, body: unknown, headers: Record<string, string> = {}, server = fake) {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

function chat(model: string, prompt: string, extra: Record<string, unknown> = {}) {
  return { model, messages: [{ role: 'user', content: prompt }], ...extra };
}

function anthropic(model: string, prompt: string, extra: Record<string, unknown> = {}) {
  return { model, max_tokens: 1024, messages: [{ role: 'user', content: prompt }], ...extra };
}

interface SseEvent {
  event: string | undefined;
  data: string;
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
async function json(response: Response): Promise<any> {
  return response.json();
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((line) => line.startsWith('event: '))?.slice(7);
      const data = lines.find((line) => line.startsWith('data: '))?.slice(6) ?? '';
      return { event, data };
    });
}

/** Reads a streamed body until the server stops sending or `ms` pass, then aborts. */
async function readFor(
  response: Response,
  ms: number,
  controller: AbortController,
): Promise<string> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = setTimeout(() => controller.abort(), ms);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // aborted by the deadline
  } finally {
    clearTimeout(deadline);
  }
  return text;
}

describe('OpenAI chat completions', () => {
  it('streams SSE chunks, a usage chunk with no choices, then [DONE]', async () => {
    const prompt = 'Summarise the plot of Hamlet';
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o-mini@tps=0', prompt, { stream: true, stream_options: { include_usage: true } }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = parseSse(await response.text());

    expect(events.at(-1)?.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data));
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ object: 'chat.completion.chunk', model: 'gpt-4o-mini' });
    }
    expect(chunks[0].choices[0].delta).toMatchObject({ role: 'assistant', content: '' });
    const usageChunk = chunks.at(-1);
    expect(usageChunk.choices).toEqual([]);
    const finishChunk = chunks.at(-2);
    expect(finishChunk.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });

    const content = chunks
      .slice(1, -2)
      .map((chunk) => chunk.choices[0].delta.content)
      .join('');
    const expected = fakeAnswer(prompt);
    expect(content).toBe(expected);
    expect(usageChunk.usage).toMatchObject({
      prompt_tokens: Math.ceil(prompt.length / 4),
      completion_tokens: expected.split(' ').length,
      total_tokens: Math.ceil(prompt.length / 4) + expected.split(' ').length,
    });
  });

  it('leaves the usage chunk out unless stream_options.include_usage is set', async () => {
    const response = await post('/v1/chat/completions', chat('gpt-4o', 'hi', { stream: true }));
    const events = parseSse(await response.text());
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data));
    expect(chunks.every((chunk) => chunk.choices.length === 1 && chunk.usage === undefined)).toBe(
      true,
    );
  });

  it('answers without streaming, reporting the model without its suffix', async () => {
    const response = await post('/v1/chat/completions', chat('gpt-4o-mini@latency=1', 'Hello'));
    const body = await json(response);
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: fakeAnswer('Hello') },
          finish_reason: 'stop',
        },
      ],
    });
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(fake.requests[0]).toMatchObject({
      model: 'gpt-4o-mini',
      stream: false,
      completed: true,
      status: 200,
    });
  });

  it('stops at max_tokens with finish_reason length', async () => {
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o', 'one two three', { max_tokens: 2 }),
    );
    const body = await json(response);
    expect(body.choices[0]).toMatchObject({
      message: { content: 'echo: one' },
      finish_reason: 'length',
    });
    expect(body.usage.completion_tokens).toBe(2);
  });

  it('reports cached and reasoning tokens inside the OpenAI totals', async () => {
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o@cache-read=1000,reasoning=64', 'abcd'),
    );
    const { usage } = await json(response);
    expect(usage.prompt_tokens).toBe(1001);
    expect(usage.prompt_tokens_details.cached_tokens).toBe(1000);
    expect(usage.completion_tokens_details.reasoning_tokens).toBe(64);
    expect(usage.completion_tokens).toBe(64 + fakeAnswer('abcd').split(' ').length);
  });

  it('omits usage with no-usage', async () => {
    const response = await post('/v1/chat/completions', chat('gpt-4o@no-usage', 'x'));
    expect((await json(response)).usage).toBeUndefined();
  });

  it('answers json_schema requests with JSON that fits the schema', async () => {
    const schema = {
      type: 'object',
      properties: {
        city: { type: 'string' },
        population: { type: 'integer', minimum: 1000, maximum: 5000 },
        kind: { enum: ['town', 'city'] },
        districts: { type: 'array', items: { type: 'string' }, minItems: 1 },
      },
      required: ['city', 'population', 'kind', 'districts'],
      additionalProperties: false,
    };
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o', 'Describe Lyon', {
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'place', strict: true, schema },
        },
      }),
    );
    const value = JSON.parse((await json(response)).choices[0].message.content);
    expect(Object.keys(value).sort()).toEqual(['city', 'districts', 'kind', 'population']);
    expect(typeof value.city).toBe('string');
    expect(Number.isInteger(value.population)).toBe(true);
    expect(value.population).toBeGreaterThanOrEqual(1000);
    expect(value.population).toBeLessThanOrEqual(5000);
    expect(['town', 'city']).toContain(value.kind);
    expect(value.districts.length).toBeGreaterThanOrEqual(1);
  });

  it('lets output= force text that is not JSON in json mode', async () => {
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o@output=oops%2C not json', 'x', { response_format: { type: 'json_object' } }),
    );
    expect((await json(response)).choices[0].message.content).toBe('oops, not json');
  });

  it('answers a canned output keyed on the prompt, first match first, until cleared', async () => {
    fake.answerWhen('INV-7', '{"vendor":"Acme"}');
    fake.answerWhen(/page (\d+)/, (text) => `seen ${/page (\d+)/.exec(text)?.[1]}`);
    const schema = {
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'x', schema: { type: 'object', properties: {} } },
      },
    };
    const first = await json(
      await post('/v1/chat/completions', chat('m', 'Invoice INV-7', schema)),
    );
    expect(first.choices[0].message.content).toBe('{"vendor":"Acme"}');
    const second = await json(await post('/v1/chat/completions', chat('m', 'on page 3 of 5')));
    expect(second.choices[0].message.content).toBe('seen 3');
    fake.reset();
    const kept = await json(await post('/v1/chat/completions', chat('m', 'INV-7 again')));
    expect(kept.choices[0].message.content).toBe('{"vendor":"Acme"}');
    fake.clearAnswers();
    const plain = await json(await post('/v1/chat/completions', chat('m', 'INV-7 again')));
    expect(plain.choices[0].message.content).toBe(fakeAnswer('INV-7 again'));
  });

  it('answers a forced function call with arguments that fit its parameters', async () => {
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o', 'weather?', {
        tools: [
          {
            type: 'function',
            function: {
              name: 'get_weather',
              parameters: {
                type: 'object',
                properties: { city: { type: 'string' } },
                required: ['city'],
              },
            },
          },
        ],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
      }),
    );
    const { choices } = await json(response);
    expect(choices[0].finish_reason).toBe('tool_calls');
    const call = choices[0].message.tool_calls[0];
    expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    expect(typeof JSON.parse(call.function.arguments).city).toBe('string');
  });
});

describe('Anthropic messages', () => {
  it('streams the Anthropic event sequence', async () => {
    const prompt = 'Write a haiku about rain';
    const response = await post(
      '/v1/messages',
      anthropic('claude-3-5-haiku@cache-read=30,cache-write=12', prompt, { stream: true }),
      anthropicHeaders,
    );
    expect(response.status).toBe(200);
    const events = parseSse(await response.text());
    const names = events.map((event) => event.event);
    const words = fakeAnswer(prompt).split(' ').length;
    expect(names).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      ...Array.from({ length: words }, () => 'content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const event of events) expect(JSON.parse(event.data).type).toBe(event.event);

    const start = JSON.parse(events[0]?.data as string);
    expect(start.message).toMatchObject({
      model: 'claude-3-5-haiku',
      role: 'assistant',
      content: [],
    });
    expect(start.message.usage).toMatchObject({
      input_tokens: Math.ceil(prompt.length / 4),
      cache_read_input_tokens: 30,
      cache_creation_input_tokens: 12,
    });
    const text = events
      .filter((event) => event.event === 'content_block_delta')
      .map((event) => JSON.parse(event.data).delta.text)
      .join('');
    expect(text).toBe(fakeAnswer(prompt));
    const delta = JSON.parse(events.at(-2)?.data as string);
    expect(delta).toMatchObject({
      delta: { stop_reason: 'end_turn' },
      usage: { output_tokens: words },
    });
  });

  it('answers without streaming', async () => {
    const response = await post(
      '/v1/messages',
      anthropic('claude-3-5-haiku', 'Hi'),
      anthropicHeaders,
    );
    const body = await json(response);
    expect(body).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: fakeAnswer('Hi') }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 1, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    });
    expect(response.headers.get('request-id')).toMatch(/^req_/);
  });

  it('answers a forced tool (AI SDK structured output) with a tool_use block fitting input_schema', async () => {
    const input_schema = {
      type: 'object',
      properties: {
        sentiment: { enum: ['positive', 'negative'] },
        confidence: { type: 'number', minimum: 0, maximum: 1 },
      },
      required: ['sentiment', 'confidence'],
    };
    const response = await post(
      '/v1/messages',
      anthropic('claude-3-5-haiku', 'I love it', {
        tools: [{ name: 'json', description: 'Respond with a JSON object.', input_schema }],
        tool_choice: { type: 'any', disable_parallel_tool_use: true },
      }),
      anthropicHeaders,
    );
    const body = await json(response);
    expect(body.stop_reason).toBe('tool_use');
    const block = body.content[0];
    expect(block).toMatchObject({ type: 'tool_use', name: 'json' });
    expect(['positive', 'negative']).toContain(block.input.sentiment);
    expect(block.input.confidence).toBeGreaterThanOrEqual(0);
    expect(block.input.confidence).toBeLessThanOrEqual(1);
  });

  it('streams a forced tool as input_json_delta pieces that join into valid JSON', async () => {
    const response = await post(
      '/v1/messages',
      anthropic('claude-3-5-haiku', 'x', {
        stream: true,
        tools: [
          {
            name: 'pick',
            input_schema: {
              type: 'object',
              properties: { n: { type: 'integer' } },
              required: ['n'],
            },
          },
        ],
        tool_choice: { type: 'tool', name: 'pick' },
      }),
      anthropicHeaders,
    );
    const events = parseSse(await response.text());
    expect(JSON.parse(events[1]?.data as string).content_block).toMatchObject({
      type: 'tool_use',
      name: 'pick',
    });
    const json = events
      .filter((event) => event.event === 'content_block_delta')
      .map((event) => JSON.parse(event.data).delta.partial_json)
      .join('');
    expect(Number.isInteger(JSON.parse(json).n)).toBe(true);
  });

  it('answers output_config.format json_schema with JSON text', async () => {
    const response = await post(
      '/v1/messages',
      anthropic('claude-sonnet-4-5', 'x', {
        output_config: {
          format: {
            type: 'json_schema',
            schema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
          },
        },
      }),
      anthropicHeaders,
    );
    const body = await json(response);
    expect(typeof JSON.parse(body.content[0].text).ok).toBe('boolean');
  });

  it('requires x-api-key and anthropic-version', async () => {
    const noKey = await post('/v1/messages', anthropic('claude-3-5-haiku', 'x'), {
      'anthropic-version': '2023-06-01',
    });
    expect(noKey.status).toBe(401);
    expect(await json(noKey)).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'x-api-key header is required' },
    });
    const noVersion = await post('/v1/messages', anthropic('claude-3-5-haiku', 'x'), {
      'x-api-key': 'k',
    });
    expect(noVersion.status).toBe(400);
    expect((await json(noVersion)).error.type).toBe('invalid_request_error');
  });
});

describe('OpenAI responses (used by @ai-sdk/openai by default and @ai-sdk/huggingface)', () => {
  it('streams response events ending in response.completed with usage', async () => {
    const response = await post('/v1/responses', {
      model: 'gpt-4o-mini',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Tell me a joke' }] }],
      stream: true,
    });
    const events = parseSse(await response.text());
    expect(events[0]?.event).toBe('response.created');
    expect(events.at(-1)?.event).toBe('response.completed');
    const text = events
      .filter((event) => event.event === 'response.output_text.delta')
      .map((event) => JSON.parse(event.data).delta)
      .join('');
    expect(text).toBe(fakeAnswer('Tell me a joke'));
    const sequence = events.map((event) => JSON.parse(event.data).sequence_number);
    expect(sequence).toEqual(sequence.map((_, index) => index));
    const completed = JSON.parse(events.at(-1)?.data as string).response;
    expect(completed.usage).toMatchObject({
      input_tokens: 4,
      output_tokens: text.split(' ').length,
    });
  });

  it('answers without streaming', async () => {
    const response = await post('/v1/responses', {
      model: 'gpt-4o-mini@no-usage',
      input: 'Hi',
      instructions: 'Be brief',
    });
    const body = await json(response);
    expect(body).toMatchObject({
      object: 'response',
      status: 'completed',
      instructions: 'Be brief',
      output: [
        {
          type: 'message',
          role: 'assistant',
          content: [{ type: 'output_text', text: fakeAnswer('Hi') }],
        },
      ],
      usage: null,
    });
  });
});

describe('faults', () => {
  it('answers 429 with Retry-After and the provider error body', async () => {
    const openAi = await post('/v1/chat/completions', chat('gpt-4o-mini@status=429', 'x'));
    expect(openAi.status).toBe(429);
    expect(openAi.headers.get('retry-after')).toBe('1');
    expect(await json(openAi)).toEqual({
      error: {
        message: expect.any(String),
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });

    const claude = await post(
      '/v1/messages',
      anthropic('claude-3-5-haiku@status=429,retry-after=2', 'x'),
      anthropicHeaders,
    );
    expect(claude.status).toBe(429);
    expect(claude.headers.get('retry-after')).toBe('2');
    expect(await json(claude)).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.any(String) },
    });
  });

  it('sends retry-after-ms beside Retry-After when asked', async () => {
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o-mini@status=429,retry-after=0,retry-after-ms=25', 'x'),
    );
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('0');
    expect(response.headers.get('retry-after-ms')).toBe('25');
    const plain = await post('/v1/chat/completions', chat('gpt-4o-mini@status=429', 'x'));
    expect(plain.headers.get('retry-after-ms')).toBeNull();
  });

  it('vary: the same prompt gets a new answer on each request', async () => {
    const texts: string[] = [];
    for (let index = 0; index < 3; index++) {
      const response = await post('/v1/chat/completions', chat('gpt-4o-mini@vary', 'same'));
      texts.push((await json(response)).choices[0].message.content);
    }
    expect(new Set(texts).size).toBe(3);
    expect(texts[0]).toBe(fakeAnswer('same#1'));
    const plain = await post('/v1/chat/completions', chat('gpt-4o-mini', 'same'));
    expect((await json(plain)).choices[0].message.content).toBe(fakeAnswer('same'));
  });

  it('maps 500 and 503 to each provider error type', async () => {
    const openAi = await post('/v1/chat/completions', chat('gpt-4o', 'x'), {
      'x-fake-status': '500',
    });
    expect(openAi.status).toBe(500);
    expect((await json(openAi)).error.type).toBe('server_error');
    const claude = await post(
      '/v1/messages',
      anthropic('claude-3-5-haiku@status=503', 'x'),
      anthropicHeaders,
    );
    expect((await json(claude)).error.type).toBe('overloaded_error');
  });

  it('fails the first fail-times requests with the same prompt, then succeeds', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await post(
        '/v1/chat/completions',
        chat('gpt-4o@fail-times=2,status=503', 'retry me'),
      );
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    expect(statuses).toEqual([503, 503, 200]);
    // A different prompt has its own counter.
    const other = await post(
      '/v1/chat/completions',
      chat('gpt-4o@fail-times=2,status=503', 'another'),
    );
    expect(other.status).toBe(503);
  });

  it('answers with output only for the first output-times requests with the same prompt', async () => {
    const answers: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await post(
        '/v1/chat/completions',
        chat('gpt-4o@output=not%20json,output-times=2', 'say hi'),
      );
      answers.push((await json(response)).choices[0].message.content);
    }
    expect(answers.slice(0, 2)).toEqual(['not json', 'not json']);
    expect(answers[2]).not.toBe('not json');
    const other = await post(
      '/v1/chat/completions',
      chat('gpt-4o@output=not%20json,output-times=2', 'another'),
    );
    expect((await json(other)).choices[0].message.content).toBe('not json');
  });

  it('shares a fail-times counter across prompts with the same x-fake-key', async () => {
    const headers = { 'x-fake-key': 'job-1', 'x-fake-fail-times': '1' };
    const first = await post('/v1/chat/completions', chat('gpt-4o', 'a'), headers);
    const second = await post('/v1/chat/completions', chat('gpt-4o', 'b'), headers);
    expect([first.status, second.status]).toEqual([500, 200]);
  });

  it('disconnect-after streams N chunks, then drops the connection', async () => {
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o@disconnect-after=2', 'one two three four', { stream: true }),
    );
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          text += new TextDecoder().decode(value);
        }
      })(),
    ).rejects.toThrow();
    const events = parseSse(text);
    expect(events).toHaveLength(3); // role chunk + 2 content chunks
    expect(text).not.toContain('[DONE]');
    const request = await fake.waitFor((entry) => entry.endedAt !== undefined);
    expect(request).toMatchObject({ completed: false, aborted: false });
  });

  it('hang never answers; a client abort is recorded as aborted', async () => {
    const first = new AbortController();
    const second = new AbortController();
    const send = (controller: AbortController) =>
      fetch(`${fake.url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify(chat('gpt-4o@hang', 'x')),
        signal: controller.signal,
      });
    const hungFirst = send(first);
    const hungSecond = send(second);
    await fake.waitFor((_, all) => all.length === 2);
    expect(fake.inFlight()).toBe(2);

    first.abort();
    await expect(hungFirst).rejects.toThrow(/abort/i);
    const aborted = await fake.waitFor((request) => request.aborted);
    expect(aborted).toMatchObject({ status: undefined, completed: false, aborted: true });
    expect(fake.inFlight()).toBe(1);

    second.abort();
    await expect(hungSecond).rejects.toThrow(/abort/i);
    await fake.waitFor((_, all) => all.every((request) => request.aborted));
    expect(fake.inFlight()).toBe(0);
  });

  it('hang-after streams N chunks then stalls until the client gives up', async () => {
    const controller = new AbortController();
    const response = await fetch(`${fake.url}/v1/messages`, {
      method: 'POST',
      headers: anthropicHeaders,
      body: JSON.stringify(anthropic('claude-3-5-haiku@hang-after=1', 'a b c', { stream: true })),
      signal: controller.signal,
    });
    const text = await readFor(response, 150, controller);
    expect(parseSse(text).map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
    ]);
    const request = await fake.waitFor((entry) => entry.aborted);
    expect(request.status).toBe(200);
  });

  it('malformed-after emits one chunk that is not JSON and carries on', async () => {
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o@malformed-after=1', 'x', { stream: true }),
    );
    const events = parseSse(await response.text());
    const broken = events.filter((event) => {
      if (event.data === '[DONE]') return false;
      try {
        JSON.parse(event.data);
        return false;
      } catch {
        return true;
      }
    });
    expect(broken).toHaveLength(1);
    expect(events.indexOf(broken[0] as SseEvent)).toBe(2); // after the role chunk and one piece
    expect(events.at(-1)?.data).toBe('[DONE]');
  });

  it('error-after ends the stream with the provider in-stream error event', async () => {
    const response = await post(
      '/v1/messages',
      anthropic('claude-3-5-haiku@error-after=2', 'x', { stream: true }),
      anthropicHeaders,
    );
    const events = parseSse(await response.text());
    expect(events.at(-1)).toEqual({
      event: 'error',
      data: JSON.stringify({
        type: 'error',
        error: { type: 'overloaded_error', message: 'Overloaded' },
      }),
    });
    expect(events.filter((event) => event.event === 'content_block_delta')).toHaveLength(2);
  });

  it('latency delays the first byte and tps paces the stream', async () => {
    const prompt = 'pace this answer please';
    const pieces = fakeAnswer(prompt).split(' ').length; // 13
    const started = performance.now();
    const response = await post(
      '/v1/chat/completions',
      chat('gpt-4o@latency=80,tps=100', prompt, { stream: true }),
    );
    const firstByte = performance.now() - started;
    await response.text();
    const total = performance.now() - started;
    expect(firstByte).toBeGreaterThanOrEqual(80 * 0.5);
    // Pieces are due at 0, 10, 20 … ms after the first one.
    expect(total).toBeGreaterThanOrEqual((80 + ((pieces - 1) * 1000) / 100) * 0.5);
  });

  it('rejects an unknown control with a 400 naming it', async () => {
    const response = await post('/v1/chat/completions', chat('gpt-4o@latnecy=5', 'x'));
    expect(response.status).toBe(400);
    expect((await json(response)).error.message).toMatch(/latnecy/);
  });
});

describe('models, routing and errors', () => {
  it('404s models starting with unknown- in each provider format', async () => {
    const openAi = await post('/v1/chat/completions', chat('unknown-model', 'x'));
    expect(openAi.status).toBe(404);
    expect((await json(openAi)).error).toMatchObject({
      code: 'model_not_found',
      type: 'invalid_request_error',
    });
    const claude = await post('/v1/messages', anthropic('unknown-claude', 'x'), anthropicHeaders);
    expect(claude.status).toBe(404);
    expect((await json(claude)).error.type).toBe('not_found_error');
  });

  it('lists models in OpenAI format, or Anthropic format when anthropic-version is sent', async () => {
    const openAi = await json(await fetch(`${fake.url}/v1/models`));
    expect(openAi.object).toBe('list');
    expect(openAi.data.map((model: { id: string }) => model.id)).toContain('gpt-4o-mini');
    const claude = await json(await fetch(`${fake.url}/v1/models`, { headers: anthropicHeaders }));
    expect(claude.data[0]).toMatchObject({ type: 'model', id: expect.stringMatching(/^claude-/) });
    expect(claude.has_more).toBe(false);
  });

  it('serves base URLs without /v1 too', async () => {
    const response = await post('/chat/completions', chat('gpt-4o', 'x'));
    expect(response.status).toBe(200);
  });

  it('400s a body that is not JSON', async () => {
    const response = await fetch(`${fake.url}/v1/chat/completions`, {
      method: 'POST',
      body: '{nope',
    });
    expect(response.status).toBe(400);
    expect(fake.requests[0]?.body).toBe('{nope');
  });

  it('records headers (authorization included) and the parsed body', async () => {
    await (
      await post('/v1/chat/completions', chat('gpt-4o', 'x'), { authorization: 'Bearer sk-test' })
    ).text();
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer sk-test');
    expect(fake.requests[0]?.body).toEqual(chat('gpt-4o', 'x'));
    await expect(fake.waitFor((request) => request.path === '/never', 20)).rejects.toThrow(
      /timed out/,
    );
  });
});

describe('server options', () => {
  it('401s a wrong or missing key in each provider format', async () => {
    const guarded = await startFakeLlm({ apiKey: 'sk-right' });
    try {
      const wrong = await post(
        '/v1/chat/completions',
        chat('gpt-4o', 'x'),
        { authorization: 'Bearer sk-wrong-key' },
        guarded,
      );
      expect(wrong.status).toBe(401);
      expect((await json(wrong)).error.code).toBe('invalid_api_key');
      const missing = await post('/v1/chat/completions', chat('gpt-4o', 'x'), {}, guarded);
      expect(missing.status).toBe(401);
      const right = await post(
        '/v1/chat/completions',
        chat('gpt-4o', 'x'),
        { authorization: 'Bearer sk-right' },
        guarded,
      );
      expect(right.status).toBe(200);

      const claude = await post(
        '/v1/messages',
        anthropic('claude-3-5-haiku', 'x'),
        anthropicHeaders,
        guarded,
      );
      expect(claude.status).toBe(401);
      expect((await json(claude)).error.type).toBe('authentication_error');
    } finally {
      await guarded.close();
    }
  });

  it('applies defaults, and record: false keeps only counts', async () => {
    const quiet = await startFakeLlm({ record: false, defaults: { status: 503 } });
    try {
      const response = await post('/v1/chat/completions', chat('gpt-4o', 'x'), {}, quiet);
      expect(response.status).toBe(503);
      await response.text();
      expect(quiet.requests).toEqual([]);
      expect(quiet.stats()).toMatchObject({ received: 1, completed: 1, inFlight: 0 });
    } finally {
      await quiet.close();
    }
  });

  it('closes promptly with hung connections open', async () => {
    const doomed = await startFakeLlm();
    const hung = post('/v1/chat/completions', chat('gpt-4o@hang', 'x'), {}, doomed);
    const stalled = await post(
      '/v1/chat/completions',
      chat('gpt-4o@hang-after=1', 'x', { stream: true }),
      {},
      doomed,
    );
    const stalledBody = stalled.text();
    await doomed.waitFor((_, all) => all.length === 2);
    // Returns at all: a close that waited for the hung requests would never end (they hang
    // until the client goes), so the test would time out rather than pass.
    await doomed.close();
    await expect(hung).rejects.toThrow();
    await expect(stalledBody).rejects.toThrow();
  });
});
