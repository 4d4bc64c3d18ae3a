import { describe, expect, it } from 'vitest';
import { editedPng, generatedPng, imageDigest } from '../../tools/fake-llm/fake-llm-images.ts';
import { startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import {
  createImageGenerator,
  editForm,
  huggingFaceTextToImageUrl,
  imageUsage,
  parseHuggingFaceImage,
  parseImageResponse,
} from './llm-image-provider.ts';
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

/** A generator whose requests are only counted (a refusal must send none). */
const countingGenerator = (kind: 'anthropic' | 'huggingface', baseUrl: string) => {
  const sent = { count: 0 };
  const generator = createImageGenerator({
    kind,
    baseUrl,
    apiKey: 'k',
    fetch: async () => {
      sent.count++;
      return new Response('{}');
    },
  });
  return { generator, sent };
};

describe('createImageGenerator', () => {
  it('refuses kinds without an OpenAI-shaped image endpoint before sending anything', async () => {
    const { generator, sent } = countingGenerator('anthropic', 'http://127.0.0.1:9');
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
    expect(sent.count).toBe(0);
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

describe('image-to-image and Hugging Face text-to-image', () => {
  const signal = new AbortController().signal;
  const png = generatedPng('input', '8x8');

  it.each([
    [
      'https://router.huggingface.co/v1',
      'black-forest-labs/FLUX.1-dev',
      'https://router.huggingface.co/hf-inference/models/black-forest-labs/FLUX.1-dev',
    ],
    [
      'http://127.0.0.1:9/v1/',
      'a/b@status=503',
      'http://127.0.0.1:9/hf-inference/models/a/b%40status%3D503',
    ],
    [
      'https://hf.example/api',
      'org/a?b#c',
      'https://hf.example/api/hf-inference/models/org/a%3Fb%23c',
    ],
  ])('the text-to-image URL of %s for %s', (baseUrl, model, expected) => {
    expect(huggingFaceTextToImageUrl(baseUrl, model)).toBe(expected);
  });

  it.each(['../../api/other', 'org/./x', 'org//x', '/x'])(
    'refuses a model name that would leave the models path: %s',
    (model) => {
      expect(() => huggingFaceTextToImageUrl('https://router.huggingface.co/v1', model)).toThrow(
        expect.objectContaining({ kind: 'bad-request' }),
      );
    },
  );

  it('sends one image as `image`, several as `image[]`, with the text fields', async () => {
    const one = editForm({ model: 'gpt-image-1', prompt: 'p' }, [
      { bytes: png, mediaType: 'image/png', name: 'a.png' },
    ]);
    expect(one.get('prompt')).toBe('p');
    const file = one.get('image') as File;
    expect(file.name).toBe('a.png');
    expect(Buffer.from(await file.arrayBuffer()).equals(png)).toBe(true);
    const two = editForm({}, [
      { bytes: png, mediaType: 'image/png', name: 'a.png' },
      { bytes: png, mediaType: 'image/png', name: 'b.png' },
    ]);
    expect(two.getAll('image[]')).toHaveLength(2);
    expect(two.has('image')).toBe(false);
  });

  it('reads image bytes from Hugging Face; JSON or an empty body is no image', () => {
    expect(parseHuggingFaceImage(png, 'image/png', 'r1')).toMatchObject({
      images: [png],
      usage: { outputTokens: undefined },
      requestId: 'r1',
    });
    expect(() =>
      parseHuggingFaceImage(Buffer.from('{"error":"busy"}'), 'application/json', undefined),
    ).toThrow(
      expect.objectContaining({
        kind: 'invalid-output',
        message: 'The provider returned no image: busy',
      }),
    );
    expect(() => parseHuggingFaceImage(Buffer.alloc(0), 'image/png', undefined)).toThrow(
      expect.objectContaining({ kind: 'invalid-output' }),
    );
  });

  it('refuses a Hugging Face edit of more than one image before sending anything', async () => {
    const { generator, sent } = countingGenerator('huggingface', 'http://127.0.0.1:9/v1');
    const image = { bytes: png, mediaType: 'image/png', name: 'a.png' };
    await expect(
      generator.generateImages({
        model: 'm',
        prompt: 'p',
        size: undefined,
        images: [image, image],
        signal,
      }),
    ).rejects.toMatchObject({ kind: 'bad-request' });
    expect(sent.count).toBe(0);
  });

  it('talks to the fake: an edit sends the bytes, Hugging Face answers image bytes', async () => {
    const fake = await startFakeLlm({ apiKey: 'sk-fake-images-123456' });
    try {
      const options = { baseUrl: `${fake.url}/v1`, apiKey: 'sk-fake-images-123456' };
      /** `model` asked to invert the PNG: the fake's edit of those bytes comes back. */
      const invert = async (generator: ReturnType<typeof createImageGenerator>, model: string) => {
        const result = await generator.generateImages({
          model,
          prompt: 'invert',
          size: '32x32',
          images: [{ bytes: png, mediaType: 'image/png', name: 'a.png' }],
          signal,
        });
        expect(result.images[0]!.equals(editedPng('invert', [png], '32x32'))).toBe(true);
        return result;
      };
      const openai = createImageGenerator({ kind: 'openai-compatible', ...options });
      const edited = await invert(openai, 'gpt-image-1');
      expect(edited.revisedPrompt).toBe(`[image:${imageDigest(png)}] invert`);
      expect(edited.usage.outputTokens).toBe(1_000);
      const hub = createImageGenerator({ kind: 'huggingface', ...options });
      const drawn = await hub.generateImages({
        model: 'stabilityai/sdxl',
        prompt: 'a kite',
        size: '16x24',
        signal,
      });
      expect(drawn.images[0]!.equals(generatedPng('a kite', '16x24'))).toBe(true);
      expect(drawn.usage.outputTokens).toBeUndefined();
      // Image-to-image on the Inference API: the image in base64, the prompt as a parameter.
      const transformed = await invert(hub, 'timbrooks/instruct-pix2pix');
      expect(transformed.usage.outputTokens).toBeUndefined();
      const failing = await hub
        .generateImages({
          model: 'stabilityai/sdxl@status=503',
          prompt: 'x',
          size: undefined,
          signal,
        })
        .catch((error: unknown) => error);
      expect(failing).toMatchObject({ kind: 'overloaded', status: 503 });
    } finally {
      await fake.close();
    }
  });
});
