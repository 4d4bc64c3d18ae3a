import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { editedPng, generatedPng, imageDigest } from '../../../tools/fake-llm/fake-llm-images.ts';
import { FAKE_KEY, sheetsOf } from '../generation/generation-test-helpers.ts';
import { imageGenerationEnvPerSuite } from './image-generation-test-helpers.ts';
import type { ImageReference } from './image-reference.ts';
import { solidImage } from './image-test-fixtures.ts';

const { env, owner, images, aiColumns, runs, storeImage, imageDataset } =
  imageGenerationEnvPerSuite();
const imageRequests = () =>
  env.fake.requests.filter((request) => request.path.endsWith('/images/generations'));
const editRequests = () =>
  env.fake.requests.filter((request) => request.path.endsWith('/images/edits'));

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function imageColumn(datasetId: string, prompt: string, model = 'gpt-image-1') {
  return aiColumns().createAiColumn(owner(), env.projectId, datasetId, {
    name: 'Picture',
    prompt,
    provider: env.providerId,
    model,
    output: { type: 'image', size: '256x256' },
  });
}

/** A dataset with an image column `Photo`, one row per image. */
async function photos(name: string, pictures: Buffer[]) {
  const references: ImageReference[] = [];
  for (const [index, bytes] of pictures.entries())
    references.push(await storeImage(`p${index}.img`, bytes));
  const data = await imageDataset(name, references);
  const rows = await env.cells(data.id, data.photo);
  return { dataset: data.id, photo: data.photo, rowIds: rows.map((row) => row.rowId) };
}

let hubProvider: string | undefined;
async function huggingFaceProvider() {
  hubProvider ??= (
    await env.t.app.llm.admin.createProvider(owner(), env.projectId, {
      name: 'fake hub',
      kind: 'huggingface',
      baseUrl: `${env.fake.url}/v1`,
      apiKey: FAKE_KEY,
    })
  ).id;
  return hubProvider;
}

describe('image generation columns', () => {
  it('stores each generated image like an upload, thumbnailed, with cost and usage recorded', async () => {
    const data = await env.dataset(
      'Posters',
      ['Subject'],
      [{ Subject: 'a fox' }, { Subject: 'a heron' }],
    );
    const created = await imageColumn(data.id, 'A poster of {{Subject}}');
    expect(created.column.type).toBe('image');
    const done = await env.waitForRun(data.id, created.run!.id);
    expect(done).toMatchObject({ status: 'completed', progress: { done: 2, errors: 0 } });

    const cells = await env.cells(data.id, created.column.id);
    const [fox, heron] = cells.map((cell) => cell.value as unknown as ImageReference);
    const expected = generatedPng('A poster of a fox', '256x256');
    expect(fox).toEqual({
      sha256: sha256(expected),
      mediaType: 'image/png',
      bytes: expected.length,
      width: 256,
      height: 256,
      name: `Picture-${data.rowIds[0]}.png`,
    });
    expect(heron!.sha256).not.toBe(fox!.sha256);
    // The bytes are in the project's blob store, with a thumbnail.
    const original = await images().original(owner(), env.projectId, fox!.sha256);
    expect(readFileSync(original.path).equals(expected)).toBe(true);
    const thumbnail = await images().thumbnail(owner(), env.projectId, fox!.sha256);
    expect(readFileSync(thumbnail.path).subarray(8, 12).toString('latin1')).toBe('WEBP');

    // The request: the rendered prompt, the size, base64 asked of no model that refuses it.
    expect(imageRequests().map((request) => request.body)).toContainEqual({
      model: 'gpt-image-1',
      prompt: 'A poster of a fox',
      n: 1,
      size: '256x256',
    });
    // The fake reports tokens (1,000 output per image): priced from the catalog, kept on the cell.
    expect(cells[0]).toMatchObject({ model: 'gpt-image-1', outputTokens: 1_000, attempts: 1 });
    expect(cells[0]!.costNanoUsd).toBeGreaterThan(0);
    expect(done.progress.costNano).toBeGreaterThan(0);
    await env.t.app.llm.llm.flush();
    await env.t.app.llm.images.flush();
    const usage = await env.t.platform.database.db
      .selectFrom('llm_calls')
      .select(['feature', 'status', 'model'])
      .where('project_id', '=', env.projectId)
      .where('feature', '=', 'sheet-image')
      .execute();
    expect(usage.filter((row) => row.status === 'ok').length).toBeGreaterThanOrEqual(2);
  });

  it('a provider that returns no image, or no image bytes, fails that cell with a clear error', async () => {
    const data = await env.dataset(
      'Refusals',
      ['Subject'],
      [{ Subject: 'a lake' }, { Subject: '[no-image]' }, { Subject: '[not-an-image]' }],
    );
    const created = await imageColumn(data.id, 'Paint {{Subject}}');
    const done = await env.waitForRun(data.id, created.run!.id);
    expect(done.progress).toMatchObject({ done: 1, errors: 2 });
    const cells = await env.cells(data.id, created.column.id);
    expect(cells[0]!.status).toBe('done');
    expect(cells[1]).toMatchObject({
      status: 'error',
      error: 'PROVIDER_ERROR: The provider returned no image',
      value: null,
    });
    expect(cells[2]).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/^PROVIDER_ERROR: The generated image was refused: /),
      value: null,
    });
    // A refusal is final: asked once, not retried.
    expect(
      imageRequests().filter((request) => JSON.stringify(request.body).includes('[no-image]')),
    ).toHaveLength(1);
  });

  it('retries a 500 through the router, and regenerating a cell draws it again', async () => {
    const data = await env.dataset('Retries', ['Subject'], [{ Subject: 'a storm' }]);
    const created = await imageColumn(
      data.id,
      'Draw {{Subject}}',
      'gpt-image-1@fail-times=1,status=500',
    );
    const done = await env.waitForRun(data.id, created.run!.id);
    expect(done.progress).toMatchObject({ done: 1, errors: 0 });
    const [cell] = await env.cells(data.id, created.column.id);
    expect(cell).toMatchObject({ status: 'done', attempts: 2 });
    const rerun = await runs().startRun(owner(), env.projectId, data.id, created.column.id, {
      mode: 'cells',
      rowIds: [data.rowIds[0]!],
    });
    expect((await env.waitForRun(data.id, rerun.id)).progress.done).toBe(1);
    const [again] = await env.cells(data.id, created.column.id);
    expect(again!.version).toBeGreaterThan(cell!.version);
    expect(imageRequests().length).toBe(3);
  });

  it('cancelling a run closes the image requests in flight and hands the cells back', async () => {
    const data = await env.dataset('Cancelled', ['Subject'], [{ Subject: 'a slow one' }]);
    const created = await imageColumn(data.id, 'Draw {{Subject}}', 'gpt-image-1@hang');
    await env.fake.waitFor((request) => request.path.endsWith('/images/generations'), 60_000);
    await runs().cancelRun(owner(), env.projectId, data.id, created.run!.id);
    const run = await env.waitForRun(data.id, created.run!.id, ['cancelled']);
    expect(run.status).toBe('cancelled');
    await eventually(() => expect(env.fake.inFlight()).toBe(0));
    const [cell] = await env.cells(data.id, created.column.id);
    expect(cell!.status).not.toBe('generating');
    expect(cell!.value).toBeNull();
  });

  it('a hard budget stops the run before any image is asked for', async () => {
    const data = await env.dataset('Budgeted', ['Subject'], [{ Subject: 'gold' }]);
    const created0 = await env.t.app.llm.admin.createBudget(owner(), env.projectId, {
      period: 'day',
      hardLimitNano: 1e15,
    });
    const budget = await env.t.app.llm.admin.updateBudget(owner(), env.projectId, created0.id, {
      hardLimitNano: created0.spentNano + 1_000,
    });
    try {
      const created = await imageColumn(data.id, 'Draw {{Subject}}');
      const paused = await env.waitForRun(data.id, created.run!.id);
      expect(paused).toMatchObject({
        status: 'paused',
        pauseReason: 'budget',
        error: { code: 'BUDGET_EXCEEDED' },
      });
      expect(
        imageRequests().filter((request) => JSON.stringify(request.body).includes('gold')),
      ).toHaveLength(0);
    } finally {
      await env.t.app.llm.admin.deleteBudget(owner(), env.projectId, budget.id);
    }
  });

  it('refuses image-to-image where the model or the connection cannot transform images: 400 naming prompt', async () => {
    const { dataset } = await photos('Img2img refused', [await solidImage('png')]);
    // dall-e-3 has no edit endpoint (BRAINCELLS_IMAGE_EDIT_MODELS).
    await expect(imageColumn(dataset, 'Repaint {{Photo}}', 'dall-e-3')).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      details: { issues: [{ path: 'prompt' }] },
    });
    // A Hugging Face connection transforms one image at a time.
    const hub = await huggingFaceProvider();
    const sheets = sheetsOf(env.t);
    await sheets.addColumn(owner(), env.projectId, dataset, { name: 'Mask', type: 'image' });
    await expect(
      aiColumns().createAiColumn(owner(), env.projectId, dataset, {
        name: 'Picture',
        prompt: 'Repaint {{Photo}} under {{Mask}}',
        provider: hub,
        model: 'timbrooks/instruct-pix2pix',
        output: { type: 'image' },
      }),
    ).rejects.toMatchObject({
      message: expect.stringContaining('one image at a time'),
      details: { issues: [{ path: 'prompt' }] },
    });

    await expect(
      aiColumns().createAiColumn(owner(), env.projectId, dataset, {
        name: 'Huge',
        prompt: 'x',
        provider: env.providerId,
        model: 'gpt-image-1',
        output: { type: 'image', size: '99999x99999' as never },
      }),
    ).rejects.toMatchObject({ issues: [{ path: ['output', 'size'] }] });
    expect(editRequests()).toHaveLength(0);
  });

  it("transforms each row's image through the edit endpoint; identical bytes hit the cache, regenerate asks again", async () => {
    const red = await solidImage('png', { colour: { r: 240, g: 10, b: 10 } });
    const blue = await solidImage('jpeg', { colour: { r: 10, g: 10, b: 240 } });
    const { dataset, photo, rowIds } = await photos('Img2img', [red, blue]);
    const created = await imageColumn(dataset, 'Repaint {{Photo}} as a watercolour');
    const done = await env.waitForRun(dataset, created.run!.id);
    expect(done.progress).toMatchObject({ done: 2, errors: 0 });
    const cells = await env.cells(dataset, created.column.id);
    const prompt = 'Repaint [image] as a watercolour';
    const [fromRed, fromBlue] = cells.map((cell) => cell.value as unknown as ImageReference);
    // The PNG the fake derives from the image it received and the prompt: it saw each row's bytes.
    const expected = editedPng(prompt, [red], '256x256');
    expect(fromRed).toMatchObject({ sha256: sha256(expected), mediaType: 'image/png' });
    expect(fromRed!.name).toBe(`Picture-${rowIds[0]}.png`);
    expect(fromBlue!.sha256).toBe(sha256(editedPng(prompt, [blue], '256x256')));
    const sent = editRequests().map((request) => request.body as Record<string, unknown>);
    expect(sent).toContainEqual({
      model: 'gpt-image-1',
      prompt,
      n: '1',
      size: '256x256',
      images: [
        {
          field: 'image',
          name: 'image-1.png',
          type: 'image/png',
          bytes: red.length,
          digest: imageDigest(red),
        },
      ],
    });
    // Stored like an upload, with a thumbnail; tokens and cost kept on the cell.
    const original = await images().original(owner(), env.projectId, fromRed!.sha256);
    expect(readFileSync(original.path).equals(expected)).toBe(true);
    expect(cells[0]).toMatchObject({ model: 'gpt-image-1', outputTokens: 1_000, attempts: 1 });
    expect(cells[0]!.costNanoUsd).toBeGreaterThan(0);

    // The same bytes under another name in a new row: answered from the cache.
    const again = await storeImage('red again.png', red);
    await sheetsOf(env.t).appendRows(owner(), env.projectId, dataset, [
      { [photo]: again as never },
    ]);
    const calls = editRequests().length;
    const rerun = await runs().startRun(owner(), env.projectId, dataset, created.column.id, {
      mode: 'all',
      fresh: false,
    });
    // Every row is answered from the cache: the two first rows by their own entries.
    expect((await env.waitForRun(dataset, rerun.id)).progress.cacheHits).toBe(3);
    expect(editRequests()).toHaveLength(calls);
    const cached = (await env.cells(dataset, created.column.id))[2]!;
    expect((cached.value as unknown as ImageReference).sha256).toBe(fromRed!.sha256);
    expect(cached.costNanoUsd ?? 0).toBe(0);

    // Regenerating a cell asks the provider again.
    const regenerated = await runs().startRun(owner(), env.projectId, dataset, created.column.id, {
      mode: 'cells',
      rowIds: [rowIds[0]!],
    });
    expect((await env.waitForRun(dataset, regenerated.id)).progress.cacheHits).toBe(0);
    expect(editRequests()).toHaveLength(calls + 1);
  });

  it('generates through Hugging Face text-to-image; the cost stays unknown', async () => {
    const hub = await huggingFaceProvider();
    const data = await env.dataset(
      'Hub images',
      ['Subject'],
      [{ Subject: 'a lighthouse' }, { Subject: '[no-image]' }],
    );
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Picture',
      prompt: 'A print of {{Subject}}',
      provider: hub,
      model: 'black-forest-labs/FLUX.1-schnell',
      output: { type: 'image', size: '256x256' },
    });
    const done = await env.waitForRun(data.id, created.run!.id);
    expect(done.progress).toMatchObject({ done: 1, errors: 1 });
    const cells = await env.cells(data.id, created.column.id);
    const expected = generatedPng('A print of a lighthouse', '256x256');
    expect((cells[0]!.value as unknown as ImageReference).sha256).toBe(sha256(expected));
    expect(cells[0]).toMatchObject({ costNanoUsd: null, outputTokens: null });
    expect(cells[1]).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/^PROVIDER_ERROR: The provider returned no image/),
    });
    const request = env.fake.requests.find((candidate) =>
      candidate.path.startsWith('/hf-inference/models/'),
    );
    expect(request).toMatchObject({
      path: '/hf-inference/models/black-forest-labs/FLUX.1-schnell',
      body: { inputs: 'A print of a lighthouse', parameters: { width: 256, height: 256 } },
    });
  });

  it("transforms each row's image through Hugging Face image-to-image; the cost stays unknown", async () => {
    const green = await solidImage('png', { colour: { r: 10, g: 200, b: 10 } });
    const { dataset } = await photos('Hub img2img', [green]);
    const created = await aiColumns().createAiColumn(owner(), env.projectId, dataset, {
      name: 'Picture',
      prompt: 'Turn {{Photo}} into a night scene',
      provider: await huggingFaceProvider(),
      model: 'timbrooks/instruct-pix2pix',
      output: { type: 'image', size: '256x256' },
    });
    const done = await env.waitForRun(dataset, created.run!.id);
    expect(done.progress).toMatchObject({ done: 1, errors: 0 });
    const [cell] = await env.cells(dataset, created.column.id);
    // The fake drew from the bytes it was sent and the prompt.
    const expected = editedPng('Turn [image] into a night scene', [green], '256x256');
    expect((cell!.value as unknown as ImageReference).sha256).toBe(sha256(expected));
    expect(cell).toMatchObject({ costNanoUsd: null, outputTokens: null });
    const request = env.fake.requests.find(
      (candidate) => candidate.path === '/hf-inference/models/timbrooks/instruct-pix2pix',
    );
    expect(request?.body).toEqual({
      inputs: green.toString('base64'),
      parameters: {
        prompt: 'Turn [image] into a night scene',
        target_size: { width: 256, height: 256 },
      },
    });
  });
});
