import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakeAnswer } from '../../../tools/fake-llm/fake-llm-output.ts';
import {
  type GenerationTestEnv,
  openGenerationTestEnv,
  sheetsOf,
} from './generation-test-helpers.ts';

let env: GenerationTestEnv;
beforeAll(async () => {
  env = await openGenerationTestEnv();
});
afterAll(async () => {
  await env?.close();
});
beforeEach(() => env.fake.reset());

const service = () => env.t.app.generation.service;
const owner = () => env.members.owner.actor;

describe('AI columns', () => {
  it('creates the column and its process together, fills every cell and records provenance', async () => {
    const cities = ['Paris', 'Lima', 'Oslo', 'Accra', 'Hanoi'];
    const data = await env.dataset(
      'Cities',
      ['City'],
      cities.map((City) => ({ City })),
    );
    const created = await service().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Blurb',
      prompt: 'Describe {{City}} in five words',
      provider: env.providerId,
      model: 'gpt-4o-mini',
    });
    expect(created.process.prompt).toBe('Describe {{City}} in five words');
    expect(created.run?.status).toMatch(/queued|running/);
    const run = await env.waitForRun(data.id, created.run!.id);
    expect(run.status).toBe('completed');
    expect(run.progress).toMatchObject({ total: 5, done: 5, errors: 0, conflicts: 0 });
    expect(run.progress.costNano).toBeGreaterThan(0);
    const cells = await env.cells(data.id, created.column.id);
    expect(cells.map((cell) => cell.status)).toEqual(['done', 'done', 'done', 'done', 'done']);
    for (const [index, cell] of cells.entries()) {
      expect(cell.value).toBe(fakeAnswer(`Describe ${cities[index]} in five words`));
      expect(cell.model).toBe('gpt-4o-mini');
      expect(cell.attempts).toBe(1);
      expect(cell.inputTokens).toBeGreaterThan(0);
    }
    const provenance = await service().cellProvenance(
      owner(),
      env.projectId,
      data.id,
      created.column.id,
      BigInt(data.rowIds[0]!),
    );
    expect(provenance).toMatchObject({
      model: 'gpt-4o-mini',
      status: 'done',
      promptHash: created.process.promptHash,
      current: { upToDate: true },
    });
    expect(provenance.costNanoUsd).toBeGreaterThan(0);
  });

  it('leaves nothing behind when the process cannot be written (unknown column in the prompt)', async () => {
    const data = await env.dataset('Refs', ['City'], [{ City: 'Rome' }]);
    await expect(
      service().createAiColumn(owner(), env.projectId, data.id, {
        name: 'Broken',
        prompt: 'About {{Country}}',
        model: 'gpt-4o-mini',
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    const dataset = await sheetsOf(env.t).getDataset(owner(), env.projectId, data.id);
    expect(dataset.columns.map((column) => column.name)).toEqual(['City']);
  });
});
