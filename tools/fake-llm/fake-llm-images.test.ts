import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { editedPng, generatedPng, imageDigest } from './fake-llm-images.ts';
import { type FakeLlm, startFakeLlm } from './fake-llm-server.ts';

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(async () => {
  await fake.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
const json = (response: Response): Promise<any> => response.json();

const red = Buffer.from(
  await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } })
    .png()
    .toBuffer(),
);
const blue = Buffer.from(
  await sharp({ create: { width: 4, height: 4, channels: 3, background: 'blue' } })
    .png()
    .toBuffer(),
);

describe('fake-llm image inputs', () => {
  it('sees OpenAI chat image_url data URLs as a digest of their bytes', async () => {
    const answer = async (image: Buffer) => {
      const response = await post('/v1/chat/completions', {
        model: 'gpt-4o-mini',
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'image_url',
                image_url: { url: `data:image/png;base64,${image.toString('base64')}` },
              },
              { type: 'text', text: 'Describe' },
            ],
          },
        ],
      });
      return (await json(response)).choices[0].message.content as string;
    };
    expect(await answer(red)).toMatch(`echo: [image:${imageDigest(red)}] Describe |`);
    expect(await answer(blue)).toMatch(`[image:${imageDigest(blue)}]`);
    expect(imageDigest(red)).not.toBe(imageDigest(blue));
  });

  it('sees Anthropic base64 image blocks the same way', async () => {
    const response = await post(
      '/v1/messages',
      {
        model: 'claude-test',
        max_tokens: 100,
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'image',
                source: { type: 'base64', media_type: 'image/png', data: red.toString('base64') },
              },
              { type: 'text', text: 'Describe' },
            ],
          },
        ],
      },
      { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
    );
    expect((await json(response)).content[0].text).toMatch(
      `echo: [image:${imageDigest(red)}] Describe`,
    );
  });

  it('sees OpenAI Responses input_image parts', async () => {
    const response = await post('/v1/responses', {
      model: 'gpt-4o-mini',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_image', image_url: `data:image/png;base64,${blue.toString('base64')}` },
            { type: 'input_text', text: 'Describe' },
          ],
        },
      ],
    });
    const body = await json(response);
    expect(JSON.stringify(body.output)).toContain(`[image:${imageDigest(blue)}]`);
  });
});

describe('fake-llm image generation', () => {
  const generate = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    post('/v1/images/generations', { model: 'fake-image', ...body }, headers);

  it('answers deterministic PNGs of the asked size as b64_json', async () => {
    const first = await json(await generate({ prompt: 'a red fox', size: '128x96', n: 2 }));
    const again = await json(await generate({ prompt: 'a red fox', size: '128x96', n: 2 }));
    const other = await json(await generate({ prompt: 'a blue whale', size: '128x96' }));
    expect(first.data).toHaveLength(2);
    expect(first.data[0].b64_json).toBe(again.data[0].b64_json);
    expect(first.data[0].b64_json).not.toBe(first.data[1].b64_json);
    expect(first.data[0].b64_json).not.toBe(other.data[0].b64_json);
    const png = Buffer.from(first.data[0].b64_json, 'base64');
    expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 128, height: 96 });
    expect(first.usage.input_tokens).toBeGreaterThan(0);
  });

  it('returns no image for [no-image], 400 without a prompt, and honours status faults', async () => {
    expect((await json(await generate({ prompt: 'x [no-image]' }))).data).toEqual([]);
    const missing = await generate({});
    expect(missing.status).toBe(400);
    const failing = await generate({ prompt: 'p', model: 'fake-image@status=503' });
    expect(failing.status).toBe(503);
  });
});

describe('fake-llm image edits and Hugging Face text-to-image', () => {
  const edit = (fields: Record<string, string>, images: [string, Buffer][]) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    for (const [field, bytes] of images)
      form.append(field, new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'in.png');
    return fetch(`${fake.url}/v1/images/edits`, { method: 'POST', body: form });
  };

  it('answers a PNG derived from the images it received and the prompt, and records their digests', async () => {
    const fromRed = await json(
      await edit({ model: 'gpt-image-1', prompt: 'blur', size: '32x16' }, [['image', red]]),
    );
    const fromBlue = await json(
      await edit({ model: 'gpt-image-1', prompt: 'blur', size: '32x16' }, [['image', blue]]),
    );
    const png = Buffer.from(fromRed.data[0].b64_json, 'base64');
    expect(png.equals(editedPng('blur', [red], '32x16'))).toBe(true);
    expect(fromBlue.data[0].b64_json).not.toBe(fromRed.data[0].b64_json);
    expect(fromRed.data[0].revised_prompt).toBe(`[image:${imageDigest(red)}] blur`);
    expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 32, height: 16 });
    const recorded = fake.requests.find((request) => request.path === '/v1/images/edits');
    expect(recorded?.body).toMatchObject({
      model: 'gpt-image-1',
      prompt: 'blur',
      images: [{ field: 'image', name: 'in.png', digest: imageDigest(red), bytes: red.length }],
    });
    const both = await json(
      await edit({ model: 'gpt-image-1', prompt: 'merge' }, [
        ['image[]', red],
        ['image[]', blue],
      ]),
    );
    expect(
      Buffer.from(both.data[0].b64_json, 'base64').equals(editedPng('merge', [red, blue], '64x64')),
    ).toBe(true);
  });

  it('refuses an edit without an image or a multipart body, and honours faults', async () => {
    expect((await edit({ model: 'm', prompt: 'p' }, [])).status).toBe(400);
    expect((await post('/v1/images/edits', { model: 'm', prompt: 'p' })).status).toBe(400);
    expect((await edit({ model: 'm@status=429', prompt: 'p' }, [['image', red]])).status).toBe(429);
  });

  it('answers Hugging Face text-to-image with the image bytes', async () => {
    const response = await post('/hf-inference/models/stabilityai/sdxl', {
      inputs: 'a kite',
      parameters: { width: 40, height: 20 },
    });
    expect(response.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.equals(generatedPng('a kite', '40x20'))).toBe(true);
    const none = await post('/hf-inference/models/stabilityai/sdxl', { inputs: 'x [no-image]' });
    expect(none.headers.get('content-type')).toBe('application/json');
    expect((await post('/hf-inference/models/org/m%40status%3D503', { inputs: 'x' })).status).toBe(
      503,
    );
    expect((await post('/hf-inference/models/org/m', {})).status).toBe(400);
  });
});
