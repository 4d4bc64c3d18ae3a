import { describe, expect, it } from 'vitest';
import { imageDigest } from '../../../tools/fake-llm/fake-llm-images.ts';
import { sheetsOf } from '../generation/generation-test-helpers.ts';
import { imageGenerationEnvPerSuite } from './image-generation-test-helpers.ts';
import { SCRIPTED_SVG, solidImage } from './image-test-fixtures.ts';
import { acceptsImages, VISION_MODEL_PATTERNS } from './image-vision.ts';

const { env, owner, aiColumns, runs, storeImage, imageDataset } = imageGenerationEnvPerSuite();

describe('vision columns', () => {
  it("sends each row's image to the model as an image part; identical bytes hit the cache", async () => {
    const red = await solidImage('png', { colour: { r: 250, g: 0, b: 0 } });
    const blue = await solidImage('jpeg', { colour: { r: 0, g: 0, b: 250 } });
    const references = [
      await storeImage('red.png', red),
      await storeImage('blue.jpg', blue),
      await storeImage('svg.svg', SCRIPTED_SVG),
    ];
    const data = await imageDataset('Vision', references);
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Description',
      prompt: 'Describe {{Photo}}',
      provider: env.providerId,
      model: 'gpt-4o-mini',
    });
    const done = await env.waitForRun(data.id, created.run!.id);
    expect(done.status).toBe('completed');
    const cells = await env.cells(data.id, created.column.id);
    expect(cells.map((cell) => cell.status)).toEqual(['done', 'done', 'done']);
    expect(cells[0]!.value).toMatch(`echo: [image:${imageDigest(red)}] Describe [image] |`);
    expect(cells[1]!.value).toMatch(`echo: [image:${imageDigest(blue)}] Describe [image] |`);
    // SVG is sent as its PNG rendering, never as markup.
    expect(cells[2]!.value).toMatch(/^echo: \[image:[0-9a-f]{16}\] Describe \[image\] \|/);
    expect(cells[2]!.value).not.toContain(imageDigest(SCRIPTED_SVG));
    const sent = env.fake.requests.map((request) => JSON.stringify(request.body));
    expect(
      sent.some((body) => body.includes(`data:image/png;base64,${red.toString('base64')}`)),
    ).toBe(true);
    expect(sent.every((body) => !body.includes('braincells-image:'))).toBe(true);

    // The same bytes under another name in a new row: answered from the cache.
    const calls = env.fake.requests.length;
    const again = await storeImage('red again.png', red);
    await sheetsOf(env.t).appendRows(owner(), env.projectId, data.id, [
      { [data.photo]: again as never },
    ]);
    const rerun = await runs().startRun(owner(), env.projectId, data.id, created.column.id, {
      mode: 'all',
      fresh: false,
    });
    const rerunDone = await env.waitForRun(data.id, rerun.id);
    expect(rerunDone.progress.cacheHits).toBeGreaterThanOrEqual(1);
    expect(env.fake.requests.length).toBe(calls);
    const after = await env.cells(data.id, created.column.id);
    expect(after[3]!.value).toBe(cells[0]!.value);
  });

  it('refuses a model that does not accept images before any call: 400 naming model', async () => {
    const data = await imageDataset('Text only', [
      await storeImage('a.png', await solidImage('png')),
    ]);
    await expect(
      aiColumns().createAiColumn(owner(), env.projectId, data.id, {
        name: 'Description',
        prompt: 'Describe {{Photo}}',
        provider: env.providerId,
        model: 'text-only-7b',
      }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      status: 400,
      details: { issues: [{ path: 'model' }] },
    });
    expect(env.fake.requests).toHaveLength(0);
  });

  it("turns a reference to another project's image into a cell error, sending nothing", async () => {
    const other = await env.t.app.services.projects.createProject(owner(), {
      name: 'Other',
      description: '',
    });
    const secret = await storeImage(
      'secret.png',
      await solidImage('png', { colour: { r: 1, g: 1, b: 1 } }),
      other.id,
    );
    const data = await imageDataset('Forged', [secret]);
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Description',
      prompt: 'Describe {{Photo}}',
      provider: env.providerId,
      model: 'gpt-4o-mini',
    });
    await env.waitForRun(data.id, created.run!.id);
    const [cell] = await env.cells(data.id, created.column.id);
    expect(cell).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/not in this project/),
    });
    expect(env.fake.requests).toHaveLength(0);
  });
});

describe('acceptsImages', () => {
  it.each([
    ['gpt-4o-mini', true],
    ['openai/gpt-4.1', true],
    ['claude-sonnet-4-5', true],
    ['Qwen/Qwen2.5-VL-7B-Instruct', true],
    ['llama3.2-vision', true],
    ['gpt-3.5-turbo', false],
    ['text-only-7b', false],
    ['mistral-small', false],
  ])('%s → %s', (model, expected) => {
    expect(acceptsImages(model, VISION_MODEL_PATTERNS)).toBe(expected);
  });
});
