import { describe, expect, it } from 'vitest';
import {
  failureFromError,
  kindForStatus,
  parseRetryAfterMs,
  responseIdFrom,
  scrubSecrets,
  toFinishReason,
  toSdkPrompt,
  toTokenUsage,
} from './llm-sdk-mapping.ts';

describe('toTokenUsage', () => {
  const allUnknown = {
    uncachedInputTokens: undefined,
    cacheReadTokens: undefined,
    cacheWriteTokens: undefined,
    outputTokens: undefined,
    reasoningTokens: undefined,
  };
  it.each([
    {
      name: 'OpenAI with cached and reasoning tokens',
      usage: {
        inputTokens: 100,
        inputTokenDetails: { noCacheTokens: 60, cacheReadTokens: 40, cacheWriteTokens: undefined },
        outputTokens: 30,
        outputTokenDetails: { textTokens: 20, reasoningTokens: 10 },
      },
      expected: {
        uncachedInputTokens: 60,
        cacheReadTokens: 40,
        cacheWriteTokens: undefined,
        outputTokens: 30,
        reasoningTokens: 10,
      },
    },
    {
      name: 'Anthropic with both cache buckets and no reasoning field',
      usage: {
        inputTokens: 15,
        inputTokenDetails: { noCacheTokens: 3, cacheReadTokens: 5, cacheWriteTokens: 7 },
        outputTokens: 12,
        outputTokenDetails: {},
      },
      expected: {
        uncachedInputTokens: 3,
        cacheReadTokens: 5,
        cacheWriteTokens: 7,
        outputTokens: 12,
        reasoningTokens: undefined,
      },
    },
    {
      name: 'only totals: uncached derived from total minus cached',
      usage: { inputTokens: 50, inputTokenDetails: { cacheReadTokens: 20 }, outputTokens: 5 },
      expected: {
        uncachedInputTokens: 30,
        cacheReadTokens: 20,
        cacheWriteTokens: undefined,
        outputTokens: 5,
        reasoningTokens: undefined,
      },
    },
    {
      name: 'nothing reported: everything unknown, never 0',
      usage: { inputTokenDetails: {}, outputTokenDetails: {} },
      expected: allUnknown,
    },
    {
      name: 'garbage values are unknown',
      usage: { inputTokens: Number.NaN, outputTokens: -3 },
      expected: allUnknown,
    },
  ])('$name', ({ usage, expected }) => {
    expect(toTokenUsage(usage)).toEqual(expected);
  });
});

describe('responseIdFrom', () => {
  it.each([
    ['chatcmpl-abc123', 'chatcmpl-abc123'],
    ['msg_01XYZ', 'msg_01XYZ'],
    ['aitxt-0123456789abcdef', undefined],
    [undefined, undefined],
  ])('%s → %s (ids the SDK made up are dropped)', (id, expected) => {
    expect(responseIdFrom(id)).toBe(expected);
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');
  it.each([
    [{ 'retry-after': '2' }, 2_000],
    [{ 'retry-after': '0.5' }, 500],
    [{ 'retry-after-ms': '1500', 'retry-after': '9' }, 1_500],
    [{ 'retry-after': 'Sat, 21 Nov 2026 12:00:30 GMT' }, 30_000],
    [{ 'retry-after': 'Sat, 21 Nov 2026 11:00:00 GMT' }, 0],
    [{ 'retry-after': 'soon' }, undefined],
    [{}, undefined],
    [undefined, undefined],
  ])('%j → %s', (headers, expected) => {
    expect(parseRetryAfterMs(headers as Record<string, string> | undefined, now)).toBe(expected);
  });
});

describe('kindForStatus', () => {
  it.each([
    [429, '', 'rate-limited'],
    [408, '', 'timeout'],
    [500, '', 'server-error'],
    [502, '', 'server-error'],
    [503, '', 'overloaded'],
    [529, '', 'overloaded'],
    [400, '', 'bad-request'],
    [400, 'Your request was rejected as a result of our safety system', 'content-filter'],
    [400, '{"code":"content_policy_violation"}', 'content-filter'],
    [401, '', 'authentication'],
    [403, '', 'permission'],
    [404, '', 'model-not-found'],
    [413, '', 'bad-request'],
    [422, '', 'bad-request'],
  ] as const)('%i %s → %s', (status, body, kind) => {
    expect(kindForStatus(status, body)).toBe(kind);
  });
});

describe('failureFromError', () => {
  const context = { provider: 'openai', secrets: ['sk-live-supersecretvalue-123'] };

  it('maps an APICallError with headers to a rate limit with Retry-After and request id', () => {
    const failure = failureFromError(
      {
        name: 'AI_APICallError',
        message: 'Rate limit reached',
        statusCode: 429,
        responseHeaders: { 'retry-after': '3', 'x-request-id': 'req_1' },
      },
      context,
    );
    expect(failure).toMatchObject({
      kind: 'rate-limited',
      status: 429,
      retryAfterMs: 3_000,
      requestId: 'req_1',
    });
    expect(failure.message).toBe('openai rate limited the request (HTTP 429)');
    expect(failure.retryable).toBe(true);
  });

  it('maps a broken 2xx stream to a network failure after the response started', () => {
    const failure = failureFromError(
      {
        name: 'AI_APICallError',
        message: 'Failed to process successful response',
        statusCode: 200,
        cause: new TypeError('terminated'),
      },
      context,
    );
    expect(failure).toMatchObject({ kind: 'network', responseStarted: true });
  });

  it('marks a socket the peer dropped before answering (stale keep-alive) as such', () => {
    const dropped = failureFromError(
      {
        name: 'AI_APICallError',
        message: 'Cannot connect to API: other side closed',
        cause: { code: 'UND_ERR_SOCKET' },
      },
      context,
    );
    expect(dropped).toMatchObject({
      kind: 'network',
      connectionDropped: true,
      responseStarted: false,
    });
    const refused = failureFromError(
      {
        name: 'AI_APICallError',
        message: 'Cannot connect to API: connect ECONNREFUSED',
        cause: { code: 'ECONNREFUSED' },
      },
      context,
    );
    expect(refused).toMatchObject({ kind: 'network', connectionDropped: false });
  });

  it('maps an unreachable server to a network failure before any response', () => {
    const failure = failureFromError(
      { name: 'AI_APICallError', message: 'Cannot connect to API: ECONNREFUSED' },
      context,
    );
    expect(failure).toMatchObject({ kind: 'network', responseStarted: false, status: undefined });
  });

  it('maps in-stream error events by their code', () => {
    const failure = failureFromError(
      { name: 'AI_StreamProviderError', code: 'rate_limit_exceeded', message: 'x' },
      context,
    );
    expect(failure).toMatchObject({ kind: 'rate-limited', responseStarted: true });
    const other = failureFromError(
      { name: 'AI_StreamProviderError', type: 'overloaded_error', message: 'x' },
      context,
    );
    expect(other.kind).toBe('overloaded');
  });

  it('maps schema mismatches to a final invalid-output failure', () => {
    const failure = failureFromError(
      { name: 'AI_NoObjectGeneratedError', message: 'No object generated' },
      context,
    );
    expect(failure.kind).toBe('invalid-output');
    expect(failure.retryable).toBe(false);
  });

  it('scrubs the key from the provider message and never keeps the SDK error (it carries the prompt)', () => {
    const sdkError = {
      name: 'AI_APICallError',
      message: 'Incorrect API key provided: sk-live-supersecretvalue-123',
      statusCode: 401,
      requestBodyValues: { messages: [{ role: 'user', content: 'private prompt' }] },
    };
    const failure = failureFromError(sdkError, context);
    expect(failure.kind).toBe('authentication');
    expect(failure.providerMessage).not.toContain('supersecretvalue');
    expect(failure.cause).toBeUndefined();
    expect(JSON.stringify(failure)).not.toContain('private prompt');
  });
});

describe('scrubSecrets', () => {
  it.each([
    ['key sk-abcdef123456 leaked', [], 'key [redacted] leaked'],
    ['hf token hf_AbCdEf123456', [], 'hf token [redacted]'],
    ['Authorization: Bearer abc.def', [], 'Authorization: [redacted]'],
    ['custom key k3y-value-here appears', ['k3y-value-here'], 'custom key [redacted] appears'],
  ])('%s', (text, secrets, expected) => {
    expect(scrubSecrets(text, secrets)).toBe(expected);
  });
});

describe('toFinishReason', () => {
  it.each([
    ['stop', 'stop'],
    ['length', 'length'],
    ['content-filter', 'content-filter'],
    ['interrupted', 'other'],
    ['something-new', 'unknown'],
    [undefined, 'unknown'],
  ] as const)('%s → %s', (reason, expected) => {
    expect(toFinishReason(reason)).toBe(expected);
  });
});

describe('toSdkPrompt', () => {
  it('lifts leading system messages into instructions and keeps later ones in place', () => {
    const prompt = toSdkPrompt([
      { role: 'system', content: 'Be terse.' },
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Salut' },
      { role: 'system', content: 'Now in English.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'And this?' },
          { type: 'image', url: 'https://example.com/a.png' },
        ],
      },
    ]);
    expect(prompt.instructions).toBe('Be terse.\n\nAnswer in French.');
    expect(prompt.systemInMessages).toBe(true);
    expect(prompt.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'system', 'user']);
  });
});
