import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { fakeAnswer } from '../../../tools/fake-llm/fake-llm-output.ts';
import { loadConfig } from '../../platform/config.ts';
import {
  type GenerationTestEnv,
  openGenerationTestEnv,
  sheetsOf,
} from './generation-test-helpers.ts';

// Staleness, cache, output validation, search grounding, cycles, few-shot, downstream runs,
// budgets and cost confirmation, through the services against the fake LLM.
let env: GenerationTestEnv;
let searx: Server;
let searchDown = false;
const searchQueries: string[] = [];

beforeAll(async () => {
  // A SearXNG stand-in the test can take down.
  searx = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    searchQueries.push(url.searchParams.get('q') ?? '');
    if (searchDown) {
      response.writeHead(502).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        results: [
          {
            url: `https://example.org/${encodeURIComponent(url.searchParams.get('q') ?? '')}`,
            title: 'A source',
            content: 'Snippet text',
          },
        ],
      }),
    );
  });
  await new Promise<void>((resolve) => searx.listen(0, '127.0.0.1', resolve));
  const base = loadConfig({}, {}).generation;
  env = await openGenerationTestEnv({
    generation: {
      fewShotK: 3,
      search: {
        ...base.search,
        searxngUrl: `http://127.0.0.1:${(searx.address() as AddressInfo).port}`,
        cacheTtlMs: 0,
      },
    },
  });
});
afterAll(async () => {
  await env?.close();
  searx?.closeAllConnections();
  await new Promise((resolve) => searx?.close(resolve));
});
beforeEach(() => {
  env.fake.reset();
  searchDown = false;
  searchQueries.length = 0;
});

const aiColumns = () => env.t.app.generation.aiColumns;
const runs = () => env.t.app.generation.runs;
const estimates = () => env.t.app.generation.estimates;
const sheets = () => sheetsOf(env.t);
const owner = () => env.members.owner.actor;
const cities = ['Paris', 'Lima', 'Oslo', 'Accra'];
/** A dataset of the first `count` cities (all four unless given), one per row. */
const citiesDataset = (name: string, count = cities.length) =>
  env.dataset(
    name,
    ['City'],
    cities.slice(0, count).map((City) => ({ City })),
  );
/** A project price for `model`, USD per million input and output tokens. */
const priceOf = (model: string, inputUsdPerMtok: number, outputUsdPerMtok: number) =>
  env.t.app.llm.admin.createPrice(owner(), env.projectId, {
    model,
    inputUsdPerMtok,
    outputUsdPerMtok,
  });

async function column(
  datasetId: string,
  input: Record<string, unknown> & { name: string; prompt: string },
) {
  const created = await aiColumns().createAiColumn(owner(), env.projectId, datasetId, {
    provider: env.providerId,
    model: 'gpt-4o-mini',
    ...input,
  });
  if (created.run) await env.waitForRun(datasetId, created.run.id);
  return created;
}

describe('staleness and the cache', () => {
  it('regenerate (all, range, a cell) asks the model again and is billed; the estimate counts the cache hits it expects', async () => {
    const data = await citiesDataset('Regenerate');
    // `vary`: the fake gives the same prompt a new answer each time it is asked.
    await priceOf('gpt-4o-mini@vary', 0.15, 0.6);
    const created = await column(data.id, {
      name: 'Motto',
      prompt: 'A motto for {{City}}',
      model: 'gpt-4o-mini@vary',
    });
    const columnId = created.column.id;
    expect(env.fake.requests).toHaveLength(4);
    const first = (await env.cells(data.id, columnId)).map((cell) => cell.value);
    expect(new Set(first).size).toBe(4);

    // The estimate says what a regenerate costs, and what the cache would serve otherwise.
    const regenerate = await estimates().previewRun(owner(), env.projectId, data.id, columnId, {
      mode: 'all',
    });
    expect(regenerate).toMatchObject({
      cells: 4,
      cache: 'bypass',
      expectedCacheHits: 0,
      modelCalls: 4,
    });
    expect(regenerate.costNano).toBeGreaterThan(0);
    const fromCache = await estimates().previewRun(owner(), env.projectId, data.id, columnId, {
      mode: 'all',
      fresh: false,
    });
    expect(fromCache).toMatchObject({
      cells: 4,
      cache: 'use',
      expectedCacheHits: 4,
      modelCalls: 0,
      costNano: 0,
      durationSeconds: 0,
    });

    // "Regenerate all": four new calls, new answers, billed; nothing from the cache.
    const all = await runs().startRun(owner(), env.projectId, data.id, columnId, {
      mode: 'all',
    });
    expect(all.scope.fresh).toBe(true);
    const allDone = await env.waitForRun(data.id, all.id);
    expect(allDone.progress).toMatchObject({ total: 4, done: 4, cacheHits: 0 });
    expect(allDone.progress.costNano).toBeGreaterThan(0);
    expect(env.fake.requests).toHaveLength(8);
    const second = (await env.cells(data.id, columnId)).map((cell) => cell.value);
    for (let index = 0; index < 4; index++) expect(second[index]).not.toBe(first[index]);

    // A range, and one cell: asked again too.
    const range = await runs().startRun(owner(), env.projectId, data.id, columnId, {
      mode: 'range',
      range: { from: 2, to: 3 },
    });
    const rangeDone = await env.waitForRun(data.id, range.id);
    expect(rangeDone.progress).toMatchObject({ total: 2, done: 2, cacheHits: 0 });
    expect(env.fake.requests).toHaveLength(10);
    const cells = await env.cells(data.id, columnId);
    const one = await runs().startRun(owner(), env.projectId, data.id, columnId, {
      mode: 'cells',
      rowIds: [cells[0]!.rowId],
    });
    const oneDone = await env.waitForRun(data.id, one.id);
    expect(oneDone.progress).toMatchObject({ done: 1, cacheHits: 0 });
    expect(oneDone.progress.costNano).toBeGreaterThan(0);
    expect(env.fake.requests).toHaveLength(11);
    const third = (await env.cells(data.id, columnId)).map((cell) => cell.value);
    expect(third[0]).not.toBe(second[0]);
    expect(third[1]).not.toBe(second[1]);
    expect(third[3]).toBe(second[3]);
  });

  it('a prompt edit misses the cache and marks the generated cells stale; a stale run redoes them', async () => {
    const data = await citiesDataset('Stale');
    const created = await column(data.id, { name: 'Note', prompt: 'Note on {{City}}' });
    expect(env.fake.requests).toHaveLength(4);

    // The same prompt again, not as a regenerate (fresh: false), is served from the cache.
    const again = await runs().startRun(owner(), env.projectId, data.id, created.column.id, {
      mode: 'all',
      fresh: false,
    });
    const cached = await env.waitForRun(data.id, again.id);
    expect(cached.progress).toMatchObject({ done: 4, cacheHits: 4 });
    expect(env.fake.requests).toHaveLength(4);

    const edited = await aiColumns().updateProcess(
      owner(),
      env.projectId,
      data.id,
      created.column.id,
      {
        prompt: 'A fact about {{City}}',
      },
    );
    expect(edited.staleCells).toBe(4);
    expect(edited.process.version).toBe(2);
    const stale = await env.cells(data.id, created.column.id);
    expect(stale.map((cell) => cell.status)).toEqual(['stale', 'stale', 'stale', 'stale']);
    // Still shown: the old value stays until it is regenerated.
    expect(stale[0]!.value).toBe(fakeAnswer('Note on Paris'));

    const rerun = await runs().startRun(owner(), env.projectId, data.id, created.column.id, {
      mode: 'stale',
    });
    const done = await env.waitForRun(data.id, rerun.id);
    expect(done.progress).toMatchObject({ total: 4, done: 4, cacheHits: 0 });
    expect(env.fake.requests).toHaveLength(8);
    const fresh = await env.cells(data.id, created.column.id);
    expect(fresh[1]).toMatchObject({
      status: 'done',
      value: fakeAnswer('A fact about Lima'),
      promptHash: edited.process.promptHash,
    });
  });

  it('an edited input cell makes its AI cell stale; renaming the input rewrites the prompt', async () => {
    const data = await citiesDataset('Inputs');
    const created = await column(data.id, { name: 'Blurb', prompt: 'Blurb for {{City}}' });
    const cityId = data.columns.City!;
    const before = await sheets().readCells(
      owner(),
      env.projectId,
      data.id,
      [cityId],
      [BigInt(data.rowIds[2]!)],
    );
    await sheets().editCell(owner(), env.projectId, data.id, {
      rowId: BigInt(data.rowIds[2]!),
      columnId: cityId,
      expectedVersion: before.get(data.rowIds[2]!)![cityId]!.version,
      value: 'Bergen',
    });
    await env.t.app.generation.staleness.settle();
    const cells = await env.cells(data.id, created.column.id);
    expect(cells.map((cell) => cell.status)).toEqual(['done', 'done', 'stale', 'done']);
    const provenance = await aiColumns().cellProvenance(
      owner(),
      env.projectId,
      data.id,
      created.column.id,
      BigInt(data.rowIds[2]!),
    );
    expect(provenance.current.upToDate).toBe(false);

    await sheets().updateColumn(owner(), env.projectId, data.id, cityId, { name: 'Town' });
    const process = await aiColumns().getAiColumn(
      owner(),
      env.projectId,
      data.id,
      created.column.id,
    );
    expect(process.process.prompt).toBe('Blurb for {{Town}}');
    const rerun = await runs().startRun(owner(), env.projectId, data.id, created.column.id, {
      mode: 'stale',
    });
    expect((await env.waitForRun(data.id, rerun.id)).progress).toMatchObject({ total: 1, done: 1 });
    expect((await env.cells(data.id, created.column.id))[2]).toMatchObject({
      status: 'done',
      value: fakeAnswer('Blurb for Bergen'),
    });
  });

  it('regenerating one cell asks the model again (the cache would give the same answer back)', async () => {
    const data = await citiesDataset('One');
    const created = await column(data.id, { name: 'Once', prompt: 'Once upon {{City}}' });
    env.fake.reset();
    const run = await runs().startRun(owner(), env.projectId, data.id, created.column.id, {
      mode: 'cells',
      rowIds: [data.rowIds[0]!],
    });
    expect((await env.waitForRun(data.id, run.id)).progress).toMatchObject({
      total: 1,
      done: 1,
      cacheHits: 0,
    });
    expect(env.fake.requests).toHaveLength(1);
  });
});

describe('output types', () => {
  it('an answer that does not fit the type becomes a cell error with the raw text kept', async () => {
    const data = await citiesDataset('Typed', 2);
    const number = await column(data.id, {
      name: 'Population',
      prompt: 'Population of {{City}}',
      model: 'gpt-4o-mini@output=about%20two%20million',
      output: { type: 'number' },
    });
    const cells = await env.cells(data.id, number.column.id);
    expect(cells[0]).toMatchObject({ status: 'error', raw: 'about two million', value: null });
    expect(cells[0]!.error).toMatch(/PROVIDER_ERROR|not a number/);

    const json = await column(data.id, {
      name: 'Facts',
      prompt: 'Facts on {{City}}',
      model: 'gpt-4o-mini@output=%7B%22value%22%3A%7B%22founded%22%3A%22long%20ago%22%7D%7D',
      output: {
        type: 'json',
        schema: {
          type: 'object',
          properties: { founded: { type: 'integer' } },
          required: ['founded'],
        },
      },
    });
    const facts = await env.cells(data.id, json.column.id);
    expect(facts[0]).toMatchObject({ status: 'error', raw: '{"value":{"founded":"long ago"}}' });
    expect(facts[0]!.error).toMatch(/does not match the schema: founded/);

    const run = (
      await runs().listRuns(owner(), env.projectId, data.id, { columnId: json.column.id })
    )[0]!;
    expect(run.progress).toMatchObject({ errors: 2, done: 0 });
    expect(run.status).toBe('completed');
  });

  it('categories and numbers that fit are stored typed', async () => {
    const data = await citiesDataset('Cats', 2);
    const category = await column(data.id, {
      name: 'Climate',
      prompt: 'Climate of {{City}}',
      output: { type: 'category', categories: ['cold', 'mild', 'hot'] },
    });
    const cells = await env.cells(data.id, category.column.id);
    for (const cell of cells) expect(['cold', 'mild', 'hot']).toContain(cell.value);
    const number = await column(data.id, {
      name: 'Score',
      prompt: 'Score {{City}}',
      output: { type: 'number' },
    });
    for (const cell of await env.cells(data.id, number.column.id))
      expect(typeof cell.value).toBe('number');
  });
});

describe('broken connections', () => {
  it('a dropped answer is retried; one dropped every time ends as a cell error, never generating', async () => {
    const data = await citiesDataset('Broken', 2);
    const once = await column(data.id, {
      name: 'Once',
      prompt: 'Dropped once {{City}}',
      model: 'gpt-4o-mini@disconnect-after=1,fail-times=1',
    });
    for (const cell of await env.cells(data.id, once.column.id))
      expect(cell).toMatchObject({ status: 'done', attempts: 2 });
    const always = await column(data.id, {
      name: 'Always',
      prompt: 'Dropped always {{City}}',
      model: 'gpt-4o-mini@disconnect-after=1',
      output: { type: 'number' },
    });
    const cells = await env.cells(data.id, always.column.id);
    for (const cell of cells) {
      expect(cell.status).toBe('error');
      expect(cell.error).toMatch(/PROVIDER_UNAVAILABLE/);
    }
    const run = (
      await runs().listRuns(owner(), env.projectId, data.id, { columnId: always.column.id })
    )[0]!;
    expect(run).toMatchObject({ status: 'completed', progress: { errors: 2, done: 0 } });
  });
});

describe('web search grounding', () => {
  it('stores sources per cell; with search down the cells are still generated, flagged, and the run completes', async () => {
    const data = await citiesDataset('Search', 3);
    const grounded = await column(data.id, {
      name: 'Mayor',
      prompt: 'Who is the mayor of {{City}}?',
      search: { enabled: true, query: '{{City}} mayor' },
    });
    expect(searchQueries.sort()).toEqual(['Lima mayor', 'Oslo mayor', 'Paris mayor']);
    const cells = await env.cells(data.id, grounded.column.id);
    expect(cells[0]).toMatchObject({
      status: 'done',
      error: null,
      sources: [
        { url: 'https://example.org/Paris%20mayor', title: 'A source', snippet: 'Snippet text' },
      ],
    });

    searchDown = true;
    const offline = await column(data.id, {
      name: 'Mayor 2',
      prompt: 'Mayor of {{City}}, again?',
      search: { enabled: true },
    });
    const run = (
      await runs().listRuns(owner(), env.projectId, data.id, { columnId: offline.column.id })
    )[0]!;
    expect(run).toMatchObject({
      status: 'completed',
      progress: { done: 3, errors: 0, searchFailures: 3 },
    });
    const flagged = await env.cells(data.id, offline.column.id);
    for (const cell of flagged) {
      expect(cell.status).toBe('done');
      expect(cell.sources).toBeNull();
      expect(cell.error).toMatch(/Generated without sources/);
    }
  });
});

describe('dependencies', () => {
  it('refuses a cycle, and a prompt that refers to its own column', async () => {
    const data = await env.dataset('Graph', ['City'], [{ City: 'Rome' }]);
    const a = await column(data.id, { name: 'A', prompt: 'A of {{City}}' });
    const b = await column(data.id, { name: 'B', prompt: 'B of {{A}}' });
    await expect(
      aiColumns().updateProcess(owner(), env.projectId, data.id, a.column.id, {
        prompt: 'A of {{B}}',
      }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: expect.stringMatching(/A → B → A/),
    });
    await expect(
      aiColumns().updateProcess(owner(), env.projectId, data.id, b.column.id, {
        prompt: 'B of {{B}}',
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    await expect(
      aiColumns().createAiColumn(owner(), env.projectId, data.id, {
        name: 'C',
        prompt: 'C of {{C}}',
        model: 'gpt-4o-mini',
      }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: expect.stringMatching(/its own column/),
    });
  });

  it('a run with includeDownstream refreshes the AI columns that read it, in order', async () => {
    const data = await citiesDataset('Chain', 2);
    const a = await column(data.id, { name: 'Country', prompt: 'Country of {{City}}' });
    const b = await column(data.id, { name: 'Flag', prompt: 'Flag of {{Country}}' });
    await aiColumns().updateProcess(owner(), env.projectId, data.id, a.column.id, {
      prompt: 'Nation of {{City}}',
    });
    const run = await runs().startRun(owner(), env.projectId, data.id, a.column.id, {
      mode: 'stale',
      includeDownstream: true,
    });
    await env.waitForRun(data.id, run.id);
    const downstream = (await eventually(
      async () =>
        (
          await runs().listRuns(owner(), env.projectId, data.id, { columnId: b.column.id })
        ).find((candidate) => candidate.parentRunId === run.id),
      (candidate) => candidate?.status === 'completed',
      { what: 'the downstream run completed' },
    ))!;
    // The staleness tracker marks B's cells stale while B's run starts: the run takes them
    // anyway (a system change, not a person's edit), so nothing is dropped.
    expect(downstream.progress).toMatchObject({ done: 2, conflicts: 0 });
    const country = await env.cells(data.id, a.column.id);
    const flags = await env.cells(data.id, b.column.id);
    expect(flags[0]!.value).toBe(fakeAnswer(`Flag of ${country[0]!.value}`));
  });
});

describe('few-shot examples from validated cells', () => {
  it('gives at most K validated cells as examples, never regenerates them unless asked', async () => {
    const rows = Array.from({ length: 10 }, (_, index) => ({ City: `City ${index}` }));
    const data = await env.dataset('Shots', ['City'], rows);
    const created = await column(data.id, {
      name: 'Motto',
      prompt: 'Motto of {{City}}',
      run: false,
    } as never);
    const columnId = created.column.id;
    // Validate five cells by typing their values.
    for (const rowId of data.rowIds.slice(0, 5)) {
      await sheets().editCell(owner(), env.projectId, data.id, {
        rowId: BigInt(rowId),
        columnId,
        expectedVersion: 0,
        value: `Validated motto ${rowId}`,
      });
    }
    env.fake.reset();
    const run = await runs().startRun(owner(), env.projectId, data.id, columnId, {
      mode: 'all',
    });
    expect((await env.waitForRun(data.id, run.id)).progress).toMatchObject({ total: 5, done: 5 });
    expect(env.fake.requests).toHaveLength(5);
    for (const request of env.fake.requests) {
      const body = JSON.stringify(request.body);
      const examples = body.match(/Validated motto/g) ?? [];
      expect(examples.length).toBe(3);
    }
    const cells = await env.cells(data.id, columnId);
    expect(
      cells
        .slice(0, 5)
        .every((cell) => cell.validated && String(cell.value).startsWith('Validated')),
    ).toBe(true);
  });
});

describe('cost', () => {
  it('a run estimated above the threshold waits for confirmation', async () => {
    const data = await citiesDataset('Costly');
    await priceOf('pricey-model', 50_000, 50_000);
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Pricey',
      prompt: 'Expensive thoughts on {{City}}',
      provider: env.providerId,
      model: 'pricey-model',
    });
    expect(created.run).toMatchObject({ status: 'awaiting-confirmation' });
    const estimate = created.run!.estimate as {
      costNano: number;
      cells: number;
      confirmationRequired: boolean;
    };
    expect(estimate).toMatchObject({ cells: 4, confirmationRequired: true });
    expect(estimate.costNano).toBeGreaterThan(1e9);
    expect(env.fake.requests).toHaveLength(0);
    await runs().confirmRun(owner(), env.projectId, data.id, created.run!.id);
    expect((await env.waitForRun(data.id, created.run!.id)).progress.done).toBe(4);
  });

  it('a hard budget pauses the run with BUDGET_EXCEEDED; raising it and resuming finishes the run', async () => {
    const rows = Array.from({ length: 12 }, (_, index) => ({ City: `Budget city ${index}` }));
    const data = await env.dataset('Budget', ['City'], rows);
    // Other tests spent today in this project: the limit leaves room for a few cells only.
    const created0 = await env.t.app.llm.admin.createBudget(owner(), env.projectId, {
      period: 'day',
      hardLimitNano: 1e15,
    });
    const budget = await env.t.app.llm.admin.updateBudget(owner(), env.projectId, created0.id, {
      hardLimitNano: created0.spentNano + 120_000,
    });
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Thrifty',
      prompt: 'Short note on {{City}}',
      provider: env.providerId,
      model: 'gpt-4o-mini',
      parameters: { maxOutputTokens: 40 },
    });
    const paused = await env.waitForRun(data.id, created.run!.id);
    expect(paused).toMatchObject({
      status: 'paused',
      pauseReason: 'budget',
      error: { code: 'BUDGET_EXCEEDED' },
    });
    expect(paused.progress.done).toBeGreaterThan(0);
    expect(paused.progress.done).toBeLessThan(12);
    const cells = await env.cells(data.id, created.column.id);
    expect(cells.some((cell) => cell.status === 'generating')).toBe(false);
    await env.t.app.llm.admin.updateBudget(owner(), env.projectId, budget.id, {
      hardLimitNano: 1e15,
    });
    await runs().resumeRun(owner(), env.projectId, data.id, created.run!.id);
    const finished = await env.waitForRun(data.id, created.run!.id, ['completed']);
    expect(finished.progress).toMatchObject({ done: 12, errors: 0 });
    await env.t.app.llm.admin.deleteBudget(owner(), env.projectId, budget.id);
  });
});

describe('exports with metadata', () => {
  it('carry each generated cell’s provenance', async () => {
    const { exportToFile } = await import('../export/sheet-export.ts');
    const { readFileSync, rmSync } = await import('node:fs');
    const data = await env.dataset('Export', ['City'], [{ City: 'Lagos' }]);
    const created = await column(data.id, { name: 'Note', prompt: 'Note on {{City}}' });
    const file = await exportToFile(env.t.platform.duckdb, {
      datasetId: data.id,
      columns: [
        { id: data.columns.City!, name: 'City', type: 'text' },
        { id: created.column.id, name: 'Note', type: 'text' },
      ],
      format: 'jsonl',
      withMetadata: true,
      dir: env.t.platform.config.dataDir,
    });
    const [line] = readFileSync(file, 'utf8').trim().split('\n');
    rmSync(file);
    expect(JSON.parse(line!)).toMatchObject({
      Note: fakeAnswer('Note on Lagos'),
      'Note.status': 'done',
      'Note.model': 'gpt-4o-mini',
      'Note.attempts': '1',
    });
    // The hashes that decide staleness are internal: an export does not carry them.
    expect(Object.keys(JSON.parse(line!)).filter((key) => /hash/.test(key))).toEqual([]);
  });
});
