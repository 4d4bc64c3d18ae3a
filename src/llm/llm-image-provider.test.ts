import { describe, expect, it } from 'vitest';
import { createImageGenerator, imageUsage, parseImageResponse } from './llm-image-provider.ts';
import { ProviderFailure } from './llm-provider.ts';

describe('parseImageResponse', () => {
  it('reads base64 images, the revised prompt and token usage', () => {
    const result = parseImageResponse(
      JSON.stringify({
        data: [{ b64_json: Buffer.from('png bytes').toString('base64'), revised_prompt: 'a fox' }],
        usage: { input_tokens: 12, output_tokens: 1_056 },
      }),
      'openai',
      'req_1',
    );
    expect(result.images[0]!.toString()).toBe('png bytes');
    expect(result).toMatchObject({
      revisedPrompt: 'a fox',
      requestId: 'req_1',
      usage: { uncachedInputTokens: 12, outputTokens: 1_056, cacheReadTokens: undefined },
    });
  });

  it.each([
    ['no image', { data: [] }, 'invalid-output'],
    ['a URL only', { data: [{ url: 'https://example.invalid/a.png' }] }, 'invalid-output'],
    ['not JSON', 'not json', 'malformed-response'],
  ])('refuses an answer with %s', (_what, body, kind) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    expect(() => parseImageResponse(text, 'openai', undefined)).toThrow(
      expect.objectContaining({ kind }),
    );
  });

  it('keeps unknown token counts undefined, never 0', () => {
    expect(imageUsage(undefined)).toMatchObject({ outputTokens: undefined });
    expect(imageUsage({ input_tokens: -1, output_tokens: 'x' })).toMatchObject({
      uncachedInputTokens: undefined,
      outputTokens: undefined,
    });
  });
});

describe('createImageGenerator', () => {
  it('refuses kinds without an OpenAI-shaped image endpoint before sending anything', async () => {
    let sent = 0;
    const generator = createImageGenerator({
      kind: 'anthropic',
      baseUrl: 'http://127.0.0.1:9',
      apiKey: 'k',
      fetch: async () => {
        sent++;
        return new Response('{}');
      },
    });
    const failure = await generator
      .generateImages({
        model: 'm',
        prompt: 'p',
        size: undefined,
        signal: new AbortController().signal,
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ProviderFailure);
    expect(failure).toMatchObject({ kind: 'bad-request' });
    expect(sent).toBe(0);
  });

  it('asks for base64 except from gpt-image models, and maps an HTTP error with the key scrubbed', async () => {
    const bodies: Record<string, unknown>[] = [];
    const generator = createImageGenerator({
      kind: 'openai',
      baseUrl: 'http://fake.invalid/v1',
      apiKey: 'sk-secret-key-123456',
      fetch: async (_url, init) => {
        bodies.push(JSON.parse(String(init?.body)));
        return new Response(
          JSON.stringify({ error: { message: 'bad key sk-secret-key-123456' } }),
          { status: 401, headers: { 'x-request-id': 'req_9' } },
        );
      },
    });
    const signal = new AbortController().signal;
    for (const model of ['dall-e-3', 'gpt-image-1']) {
      const failure = await generator
        .generateImages({ model, prompt: 'p', size: '1024x1024', signal })
        .catch((error: unknown) => error as ProviderFailure);
      expect(failure).toMatchObject({ kind: 'authentication', status: 401, requestId: 'req_9' });
      expect((failure as ProviderFailure).providerMessage).not.toContain('sk-secret-key-123456');
    }
    expect(bodies[0]).toMatchObject({ model: 'dall-e-3', response_format: 'b64_json', n: 1 });
    expect(bodies[1]).not.toHaveProperty('response_format');
  });
});
