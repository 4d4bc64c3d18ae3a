import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageDigest } from './fake-llm-images.ts';
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
