import { describe, expect, it } from 'vitest';
import { createProjectWithMembers } from '../../../test/factories.ts';
import { fakeAnswer } from '../../../tools/fake-llm/fake-llm-output.ts';
import { FAKE_KEY, generationEnvPerSuite, sheetsOf } from './generation-test-helpers.ts';

const env = generationEnvPerSuite();

const aiColumns = () => env.t.app.generation.aiColumns;
const owner = () => env.members.owner.actor;

describe('AI columns', () => {
  it('creates the column and its process together, fills every cell and records provenance', async () => {
    const cities = ['Paris', 'Lima', 'Oslo', 'Accra', 'Hanoi'];
    const data = await env.dataset(
      'Cities',
      ['City'],
      cities.map((City) => ({ City })),
    );
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
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
    const provenance = await aiColumns().cellProvenance(
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
      aiColumns().createAiColumn(owner(), env.projectId, data.id, {
        name: 'Broken',
        prompt: 'About {{Country}}',
        model: 'gpt-4o-mini',
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    const dataset = await sheetsOf(env.t).getDataset(owner(), env.projectId, data.id);
    expect(dataset.columns.map((column) => column.name)).toEqual(['City']);
  });

  it("refuses another project's provider at creation and on edit (400 naming provider), leaving nothing", async () => {
    const other = await createProjectWithMembers(env.t);
    const foreign = await env.t.app.llm.admin.createProvider(other.owner.actor, other.project.id, {
      name: 'not yours',
      kind: 'openai',
      baseUrl: `${env.fake.url}/v1`,
      apiKey: FAKE_KEY,
    });
    const data = await env.dataset('Foreign', ['City'], [{ City: 'Rome' }]);
    const refused = aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Leak',
      prompt: 'About {{City}}',
      provider: foreign.id,
      model: 'gpt-4o-mini',
    });
    await expect(refused).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      status: 400,
      details: { issues: [{ path: 'provider' }] },
    });
    const dataset = await sheetsOf(env.t).getDataset(owner(), env.projectId, data.id);
    expect(dataset.columns.map((column) => column.name)).toEqual(['City']);
    expect(env.fake.requests).toHaveLength(0);
    // An existing column cannot be pointed at it either.
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Own',
      prompt: 'About {{City}}',
      provider: env.providerId,
      model: 'gpt-4o-mini',
      run: false,
    });
    await expect(
      aiColumns().updateProcess(owner(), env.projectId, data.id, created.column.id, {
        provider: foreign.id,
      }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      details: { issues: [{ path: 'provider' }] },
    });
    const after = await aiColumns().getAiColumn(owner(), env.projectId, data.id, created.column.id);
    expect(after.process.provider).toBe(env.providerId);
  });
});
