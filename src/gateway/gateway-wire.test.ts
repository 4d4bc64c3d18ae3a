import { describe, expect, it } from 'vitest';
import type { LlmCallResult } from '../llm/llm-service.ts';
import { AppError } from '../platform/app-error.ts';
import { AnthropicEventWriter, fromAnthropic } from './gateway-anthropic.ts';
import { fromOpenAi, OpenAiChunkWriter, openAiCompletion } from './gateway-openai.ts';
import { wireStatus } from './gateway-stream.ts';

/** The wire mappings as pure functions: what the client tests do not pin field by field. */

const result = (overrides: Partial<LlmCallResult> = {}): LlmCallResult => ({
  callId: '0193a1b2-0000-7000-8000-000000000001',
  text: 'Hello',
  output: undefined,
  toolCalls: [],
  finishReason: 'stop',
  provider: 'env:openai',
  providerKind: 'openai',
  model: 'gpt-4o-mini',
  usage: {
    uncachedInputTokens: 10,
    cacheReadTokens: 4,
    cacheWriteTokens: undefined,
    outputTokens: 3,
    reasoningTokens: undefined,
  },
  costNano: 100,
  attempts: 1,
  cacheHit: false,
  savedNano: null,
  latencyMs: 5,
  timeToFirstTokenMs: 2,
  requestId: 'req_1',
  warnings: [],
  ...overrides,
});

describe('OpenAI requests', () => {
  it('maps system and developer messages, sampling fields, stop and json_object', () => {
    const call = fromOpenAi({
      model: 'fast',
      messages: [
        { role: 'developer', content: [{ type: 'text', text: 'Be terse.' }] },
        { role: 'user', content: 'Hi' },
      ],
      max_completion_tokens: 30,
      max_tokens: 99,
      temperature: 0.2,
      stop: 'END',
      seed: 7,
      response_format: { type: 'json_object' },
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(call.messages).toEqual([
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'Hi' },
    ]);
    expect(call.parameters).toEqual({
      maxOutputTokens: 30,
      temperature: 0.2,
      stopSequences: ['END'],
      seed: 7,
    });
    expect(call.outputSchema).toEqual({ type: 'object' });
    expect(call).toMatchObject({ stream: true, includeUsage: true });
  });

  it('puts the results of one turn in one tool message, named after their calls', () => {
    const call = fromOpenAi({
      model: 'fast',
      messages: [
        { role: 'user', content: 'Weather and time?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'a', type: 'function', function: { name: 'weather', arguments: '{"city":"X"}' } },
            { id: 'b', type: 'function', function: { name: 'time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'a', content: 'sunny' },
        { role: 'tool', tool_call_id: 'b', content: '12:00' },
      ],
      tool_choice: { type: 'function', function: { name: 'weather' } },
    });
    expect(call.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'tool-call', toolCallId: 'a', toolName: 'weather', input: { city: 'X' } },
        { type: 'tool-call', toolCallId: 'b', toolName: 'time', input: {} },
      ],
    });
    expect(call.messages[2]).toEqual({
      role: 'tool',
      content: [
        { type: 'tool-result', toolCallId: 'a', toolName: 'weather', output: 'sunny' },
        { type: 'tool-result', toolCallId: 'b', toolName: 'time', output: '12:00' },
      ],
    });
    expect(call.toolChoice).toEqual({ toolName: 'weather' });
  });

  it('refuses an image URL that is neither https: nor data:image, naming the field', () => {
    expect(() =>
      fromOpenAi({
        model: 'fast',
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 'file:///etc/passwd' } }],
          },
        ],
      }),
    ).toThrow(/messages\.0\.content\.0\.image_url\.url/);
  });

  it('refuses n > 1', () => {
    expect(() =>
      fromOpenAi({ model: 'fast', messages: [{ role: 'user', content: 'x' }], n: 2 }),
    ).toThrow(AppError);
  });
});

describe('OpenAI responses', () => {
  it('counts every input bucket in prompt_tokens and reports cached tokens', () => {
    const body = openAiCompletion(result(), 'fast', 1_700_000_000_000);
    expect(body.usage).toEqual({
      prompt_tokens: 14,
      completion_tokens: 3,
      total_tokens: 17,
      prompt_tokens_details: { cached_tokens: 4 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    expect(body.created).toBe(1_700_000_000);
    expect(body.choices[0]?.message.content).toBe('Hello');
  });

  it('answers tool calls with null content and JSON arguments', () => {
    const body = openAiCompletion(
      result({
        text: '',
        finishReason: 'tool-calls',
        toolCalls: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'f', input: { a: 1 } }],
      }),
      'fast',
      0,
    );
    expect(body.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
      },
    });
  });

  it('ends a stream with the finish chunk, the usage chunk when asked, and [DONE]', () => {
    const writer = new OpenAiChunkWriter('r1', 'fast', 0);
    const end = writer.finish(result({ finishReason: 'length' }), true);
    const events = end.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(3);
    expect(JSON.parse(events[0]?.slice(6) ?? '')).toMatchObject({
      choices: [{ finish_reason: 'length', delta: {} }],
    });
    expect(JSON.parse(events[1]?.slice(6) ?? '')).toMatchObject({
      choices: [],
      usage: { total_tokens: 17 },
    });
    expect(events[2]).toBe('data: [DONE]');
    expect(writer.finish(result(), false).split('\n\n').filter(Boolean)).toHaveLength(2);
  });
});

describe('Anthropic requests and streams', () => {
  it('splits a user turn into tool results first, then its text; maps any to required', () => {
    const call = fromAnthropic({
      model: 'm',
      max_tokens: 10,
      system: [{ type: 'text', text: 'Rules' }],
      tool_choice: { type: 'any' },
      messages: [
        { role: 'user', content: 'Q' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 't1', name: 'f', input: { x: 1 } }],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'ok' }] },
            { type: 'text', text: 'and then?' },
          ],
        },
      ],
    });
    expect(call.messages.map((message) => message.role)).toEqual([
      'system',
      'user',
      'assistant',
      'tool',
      'user',
    ]);
    expect(call.messages[3]).toEqual({
      role: 'tool',
      content: [{ type: 'tool-result', toolCallId: 't1', toolName: 'f', output: 'ok' }],
    });
    expect(call.toolChoice).toBe('required');
    expect(call.parameters.maxOutputTokens).toBe(10);
  });

  it('refuses a tool_result that answers no earlier tool_use', () => {
    expect(() =>
      fromAnthropic({
        model: 'm',
        max_tokens: 10,
        messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'nope' }] }],
      }),
    ).toThrow(/messages\.0\.content\.0\.tool_use_id/);
  });

  it('numbers content blocks: text, then a tool_use block, each opened and closed once', () => {
    const writer = new AnthropicEventWriter();
    const text = writer.start('r1', 'm') + writer.text('Hel') + writer.text('lo');
    const tool = writer.toolCall({ type: 'tool-call', toolCallId: 't', toolName: 'f', input: {} });
    const end = writer.finish(result({ finishReason: 'tool-calls' }));
    const names = (text + tool + end)
      .split('\n\n')
      .filter(Boolean)
      .map((event) => event.split('\n')[0]?.slice(7));
    expect(names).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(end).toContain('"stop_reason":"tool_use"');
    expect(tool).toContain('"index":1');
  });
});

describe('wire status', () => {
  it.each([
    ['PROVIDER_ERROR', { reason: 'bad-request' }, 400],
    ['PROVIDER_ERROR', { reason: 'authentication' }, 502],
    ['PROVIDER_UNAVAILABLE', { reason: 'server-error' }, 502],
    ['RATE_LIMITED', {}, 429],
    ['BUDGET_EXCEEDED', {}, 402],
    ['TIMEOUT', {}, 504],
  ] as const)('%s %o → %i', (code, details, status) => {
    expect(wireStatus(new AppError(code, 'x', { details }))).toBe(status);
  });
});
