import { describe, expect, it } from 'vitest';
import { eventually } from '../../../test/eventually.ts';
import { createApiKey, type TestApiKey } from '../../../test/factories.ts';
import { datasetStream } from '../sheet-service.ts';
import type { SheetsModule } from '../sheets-module.ts';
import {
  type GenerationTestEnv,
  openGenerationTestEnvForFile,
  peakOverlap,
} from './generation-test-helpers.ts';

// The HTTP API (session or API key), and generation from a description alone.
let env: GenerationTestEnv;
let apiKey: TestApiKey;
let readOnlyKey: TestApiKey;
openGenerationTestEnvForFile(async (opened) => {
  env = opened;
  apiKey = await createApiKey(env.t, env.members.editor);
  readOnlyKey = await createApiKey(env.t, env.members.editor, { scopes: ['read'] });
});

const request = (
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  headers: Record<string, string>,
  payload?: object,
) => env.t.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });

describe('AI column routes', () => {
  it('create, follow progress, read provenance and preview with an API key; roles and scopes enforced', async () => {
    const data = await env.dataset('Api', ['City'], [{ City: 'Quito' }, { City: 'Kyoto' }]);
    const base = `/api/projects/${env.projectId}/datasets/${data.id}`;
    const body = {
      name: 'Summary',
      prompt: 'Summarise {{City}}',
      provider: env.providerId,
      model: 'gpt-4o-mini',
    };
    expect((await request('POST', `${base}/ai-columns`, {}, body)).statusCode).toBe(401);
    expect(
      (await request('POST', `${base}/ai-columns`, env.members.outsider.headers, body)).statusCode,
    ).toBe(404);
    expect(
      (await request('POST', `${base}/ai-columns`, env.members.viewer.headers, body)).statusCode,
    ).toBe(403);
    expect(
      (await request('POST', `${base}/ai-columns`, readOnlyKey.headers, body)).statusCode,
    ).toBe(403);
    const invalid = await request('POST', `${base}/ai-columns`, apiKey.headers, {
      ...body,
      prompt: 'About {{Nowhere}}',
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json()).toMatchObject({ error: { code: 'VALIDATION_ERROR' } });

    const created = await request('POST', `${base}/ai-columns`, apiKey.headers, body);
    expect(created.statusCode).toBe(201);
    const { column, run } = created.json() as { column: { id: string }; run: { id: string } };
    const progress = await eventually(
      async () => (await request('GET', `${base}/runs/${run.id}`, apiKey.headers)).json(),
      (value) => value.status === 'completed',
    );
    expect(progress.progress).toMatchObject({ total: 2, done: 2, errors: 0 });

    const provenance = await request(
      'GET',
      `${base}/ai-columns/${column.id}/cells/${data.rowIds[0]}/provenance`,
      env.members.viewer.headers,
    );
    expect(provenance.statusCode).toBe(200);
    expect(provenance.json()).toMatchObject({
      status: 'done',
      model: 'gpt-4o-mini',
      attempts: 1,
      current: { upToDate: true },
    });

    const preview = await request(
      'POST',
      `${base}/ai-columns/${column.id}/preview`,
      apiKey.headers,
      { mode: 'all' },
    );
    expect(preview.json()).toMatchObject({ cells: 2, confirmationRequired: false });

    const process = await request('GET', `${base}/ai-columns/${column.id}`, apiKey.headers);
    expect(process.json()).toMatchObject({
      process: { prompt: 'Summarise {{City}}', version: 1 },
      activeRun: null,
    });
    const list = await request('GET', `${base}/runs?columnId=${column.id}`, apiKey.headers);
    expect(list.json().items).toHaveLength(1);

    // A second column-wide run while one is active is refused with 409; cancel stops it.
    const patched = await request('PATCH', `${base}/ai-columns/${column.id}`, apiKey.headers, {
      model: 'gpt-4o-mini@latency=3000',
    });
    expect(patched.json()).toMatchObject({ staleCells: 2, process: { version: 2 } });
    const slow = await request('POST', `${base}/ai-columns/${column.id}/runs`, apiKey.headers, {
      mode: 'stale',
    });
    expect(slow.statusCode).toBe(202);
    const twice = await request('POST', `${base}/ai-columns/${column.id}/runs`, apiKey.headers, {
      mode: 'all',
    });
    expect(twice.statusCode).toBe(409);
    expect(twice.json()).toMatchObject({
      error: { code: 'CONFLICT', details: { runId: slow.json().id } },
    });
    expect(
      (await request('POST', `${base}/runs/${slow.json().id}/cancel`, apiKey.headers)).statusCode,
    ).toBe(200);
    const cancelled = await eventually(
      async () => (await request('GET', `${base}/runs/${slow.json().id}`, apiKey.headers)).json(),
      (value) => value.status === 'cancelled',
    );
    expect(cancelled.progress.done).toBe(0);
  });

  it('renders a draft prompt against the first rows without calling a model, exactly as a run sends it', async () => {
    const data = await env.dataset(
      'Prompt preview',
      ['City', 'Note'],
      [
        { City: 'Quito', Note: 'high' },
        { City: 'Kyoto', Note: '' },
        { City: 'Lagos', Note: null },
        { City: 'Oslo', Note: 'cold' },
      ],
    );
    const base = `/api/projects/${env.projectId}/datasets/${data.id}`;
    const url = `${base}/ai-columns/preview-prompt`;
    const draft = {
      prompt: 'Describe {{City}} ({{ note }})',
      instructions: 'Be brief.',
      columnName: 'Summary',
    };
    const preview = await request('POST', url, env.members.viewer.headers, draft);
    expect(preview.statusCode).toBe(200);
    const body = preview.json();
    expect(body.rows).toHaveLength(3);
    expect(body.rows[0]).toEqual({
      rowId: data.rowIds[0],
      position: 1,
      messages: [
        {
          role: 'system',
          content:
            'You fill one cell of the spreadsheet column "Summary", one row at a time.\n\n' +
            'Answer with the cell value only: no preamble, no quotes, no explanation.\n\n' +
            'Be brief.',
        },
        { role: 'user', content: 'Describe Quito (high)' },
      ],
      missingColumns: [],
    });
    expect(body.rows[1].messages[1].content).toBe('Describe Kyoto ()');
    expect(body.rows.map((row: { missingColumns: string[] }) => row.missingColumns)).toEqual([
      [],
      ['Note'],
      ['Note'],
    ]);
    expect(body.omitted).toEqual(['few-shot-examples', 'search-results']);
    expect(env.fake.requests).toHaveLength(0);

    const all = await request('POST', url, apiKey.headers, { ...draft, rows: 10 });
    expect(all.json().rows.map((row: { position: number }) => row.position)).toEqual([1, 2, 3, 4]);
    const category = await request('POST', url, apiKey.headers, {
      ...draft,
      output: { type: 'category', categories: ['warm', 'cold'] },
      rows: 1,
    });
    expect(category.json().rows[0].messages[0].content).toContain(
      'Answer with JSON {"value": <one of ["warm","cold"]>}.',
    );

    // Bad drafts: 400 naming the field; outsiders see nothing.
    const unknown = await request('POST', url, apiKey.headers, {
      ...draft,
      prompt: 'About {{Nowhere}}',
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error).toMatchObject({
      code: 'VALIDATION_ERROR',
      details: { issues: [{ path: 'prompt', message: 'unknown column Nowhere' }] },
    });
    const ownColumn = await request('POST', url, apiKey.headers, {
      ...draft,
      prompt: 'Improve {{Summary}}',
    });
    expect(ownColumn.statusCode).toBe(400);
    expect(ownColumn.json().error.details.issues[0].path).toBe('prompt');
    for (const rows of [0, 21]) {
      const refused = await request('POST', url, apiKey.headers, { ...draft, rows });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error.details.issues[0].path).toBe('body.rows');
    }
    expect((await request('POST', url, env.members.outsider.headers, draft)).statusCode).toBe(404);

    // What the preview shows is what a run sends.
    const created = await request('POST', `${base}/ai-columns`, apiKey.headers, {
      name: 'Summary',
      prompt: draft.prompt,
      instructions: draft.instructions,
      provider: env.providerId,
      model: 'gpt-4o-mini',
      run: false,
    });
    expect(created.statusCode).toBe(201);
    const columnId = created.json().column.id as string;
    const run = await request('POST', `${base}/ai-columns/${columnId}/runs`, apiKey.headers, {
      mode: 'range',
      range: { from: 1, to: 1 },
    });
    expect(run.statusCode).toBe(202);
    await env.waitForRun(data.id, run.json().id);
    expect(env.fake.requests).toHaveLength(1);
    const sent = JSON.stringify(env.fake.requests[0]!.body);
    const again = await request('POST', url, apiKey.headers, {
      prompt: draft.prompt,
      instructions: draft.instructions,
      columnId,
      rows: 1,
    });
    expect(again.statusCode).toBe(200);
    for (const message of again.json().rows[0].messages as { content: string }[])
      expect(sent).toContain(JSON.stringify(message.content).slice(1, -1));
    const self = await request('POST', url, apiKey.headers, {
      prompt: 'Improve {{Summary}}',
      columnId,
    });
    expect(self.statusCode).toBe(400);
    // A prompt that reads no column: each row is asked for a different answer, with a seed
    // from the column's process, which a column not yet created does not have.
    const fresh = await request('POST', url, apiKey.headers, { prompt: 'A fun fact', rows: 1 });
    expect(fresh.json().omitted).toContain('variety-note');
    expect(fresh.json().rows[0].messages[1].content).toBe('A fun fact');
    const existing = await request('POST', url, apiKey.headers, {
      prompt: 'A fun fact',
      columnId,
      rows: 1,
    });
    expect(existing.json().omitted).not.toContain('variety-note');
    expect(existing.json().rows[0].messages[1].content).toMatch(
      /^A fun fact\n\n\(Item [0-9a-f]{8}: make this answer different from the other items\.\)$/,
    );
  });

  it('appears in the OpenAPI description', async () => {
    const response = await env.t.app.inject({ method: 'GET', url: '/api/openapi.json' });
    const paths = Object.keys((response.json() as { paths: Record<string, unknown> }).paths);
    for (const path of [
      '/api/projects/{projectId}/datasets/{datasetId}/ai-columns',
      '/api/projects/{projectId}/datasets/{datasetId}/ai-columns/{columnId}/runs',
      '/api/projects/{projectId}/datasets/{datasetId}/ai-columns/preview-prompt',
      '/api/projects/{projectId}/datasets/{datasetId}/runs/{runId}',
      '/api/projects/{projectId}/datasets/{datasetId}/runs/{runId}/cancel',
      '/api/projects/{projectId}/datasets/{datasetId}/ai-columns/{columnId}/cells/{rowId}/provenance',
      '/api/projects/{projectId}/datasets/{datasetId}/generate-rows',
    ])
      expect(paths).toContain(path);
  });
});

describe('generation from a description alone', () => {
  it('a column without inputs gets a distinct answer per row, in parallel; near-duplicates are flagged', async () => {
    const data = await env.dataset(
      'Nothing',
      ['Index'],
      Array.from({ length: 12 }, (_, index) => ({ Index: String(index) })),
    );
    const column = (name: string, prompt: string, model: string) =>
      env.t.app.generation.aiColumns.createAiColumn(
        env.members.owner.actor,
        env.projectId,
        data.id,
        {
          name,
          prompt,
          provider: env.providerId,
          model,
        },
      );
    const created = await column('Idea', 'Invent a name for a café', 'gpt-4o-mini@latency=200');
    const run = await env.waitForRun(data.id, created.run!.id);
    expect(run.progress.done).toBe(12);
    const values = (await env.cells(data.id, created.column.id)).map((cell) => cell.value);
    expect(new Set(values).size).toBe(12);
    // Twelve calls of 200 ms ran side by side (the fake server held several at once), not one
    // after another; how fast a window runs is measured in bench/, not bounded by a clock here.
    expect(peakOverlap(env.fake.requests)).toBeGreaterThan(1);

    // A model that always says the same thing: each repeat is asked once more, then flagged.
    const same = await column(
      'Same',
      'Invent a name for a bakery',
      'gpt-4o-mini@output=Golden%20Crust',
    );
    const sameRun = await env.waitForRun(data.id, same.run!.id);
    expect(sameRun.progress).toMatchObject({ done: 12, duplicates: 11 });
    const flagged = (await env.cells(data.id, same.column.id)).filter((cell) =>
      /Near-duplicate of row/.test(cell.error ?? ''),
    );
    expect(flagged).toHaveLength(11);
  });

  it('generates N rows through the API, appending them, near-duplicates reported', async () => {
    const data = await env.dataset('Rows', ['Name', 'Tagline'], []);
    const base = `/api/projects/${env.projectId}/datasets/${data.id}`;
    const started = await request('POST', `${base}/generate-rows`, apiKey.headers, {
      description: 'Fictional bookshops in Lisbon',
      count: 20,
      provider: env.providerId,
      model: 'gpt-4o-mini',
    });
    expect(started.statusCode).toBe(202);
    const run = await eventually(
      async () =>
        (await request('GET', `${base}/runs/${started.json().id}`, apiKey.headers)).json(),
      (value) => value.status === 'completed',
    );
    expect(run.progress.done).toBe(20);
    const rows = await request('GET', `${base}/rows?limit=100`, apiKey.headers);
    const names = (rows.json().rows as { cells: Record<string, { value: string }> }[]).map(
      (row) => row.cells[data.columns.Name!]!.value,
    );
    expect(names).toHaveLength(20);
    expect(new Set(names).size).toBe(20);

    const dupes = await request('POST', `${base}/generate-rows`, apiKey.headers, {
      description: 'More bookshops',
      count: 5,
      provider: env.providerId,
      model: `gpt-4o-mini@output=${encodeURIComponent(JSON.stringify({ Name: 'Livraria Azul', Tagline: 'Books by the river' }))}`,
    });
    const dupRun = await eventually(
      async () => (await request('GET', `${base}/runs/${dupes.json().id}`, apiKey.headers)).json(),
      (value) => value.status === 'completed',
    );
    // Asked again to differ, still the same: not appended, reported (generation-rows.test.ts).
    expect(dupRun.progress).toMatchObject({ total: 5, done: 1, errors: 4, duplicates: 4 });
  });
});

describe('what leaves the server', () => {
  it('generated cells leave the server without generation internals: windows, edits, events', async () => {
    const data = await env.dataset('Internals', ['City'], [{ City: 'Lima' }]);
    const base = `/api/projects/${env.projectId}/datasets/${data.id}`;
    const stream = await (env.t.app as unknown as { sheets: SheetsModule }).sheets.events.subscribe(
      datasetStream(data.id),
      { bufferLimit: 10_000 },
    );
    const created = await request('POST', `${base}/ai-columns`, apiKey.headers, {
      name: 'Note',
      prompt: 'About {{City}}',
      provider: env.providerId,
      model: 'gpt-4o-mini',
    });
    const { column, run } = created.json() as { column: { id: string }; run: { id: string } };
    await env.waitForRun(data.id, run.id);
    // Inside the server the cell carries its hashes (staleness and outdated runs need them)…
    const [inside] = await env.cells(data.id, column.id);
    expect(inside!.inputHash).toMatch(/^[0-9a-f]{32}$/);
    expect(inside!.promptHash).toMatch(/^[0-9a-f]+$/);
    // …and nothing that leaves it does.
    const window = await request('POST', `${base}/rows/query`, apiKey.headers, {});
    const cell = window.json().rows[0].cells[column.id];
    expect(cell).toMatchObject({ status: 'done', version: inside!.version });
    // Marking the cell validated at the version read; once more at that version is refused.
    const markValidated = (validated: boolean) =>
      request('PATCH', `${base}/cells`, apiKey.headers, {
        rowId: data.rowIds[0],
        columnId: column.id,
        expectedVersion: inside!.version,
        validated,
      });
    const edited = await markValidated(true);
    expect(edited.statusCode).toBe(200);
    const stale = await markValidated(false);
    expect(stale.statusCode).toBe(409);
    const bulk = await request('PATCH', `${base}/cells/bulk`, apiKey.headers, {
      cells: [{ rowId: data.rowIds[0], columnId: column.id, value: 'Mine', expectedVersion: 0 }],
    });
    expect(bulk.json().conflicts).toHaveLength(1);
    const provenance = await request(
      'GET',
      `${base}/ai-columns/${column.id}/cells/${data.rowIds[0]}/provenance`,
      apiKey.headers,
    );
    expect(provenance.json()).toMatchObject({ status: 'done', current: { upToDate: true } });
    const process = await request('GET', `${base}/ai-columns/${column.id}`, apiKey.headers);
    expect(process.json().process).toMatchObject({ prompt: 'About {{City}}', version: 1 });
    const events = stream.take().filter((event) => event.type === 'cells-update');
    stream.close();
    expect(events.length).toBeGreaterThan(0);
    for (const text of [
      created.body,
      provenance.body,
      process.body,
      window.body,
      edited.body,
      stale.body,
      bulk.body,
      JSON.stringify(events.map((event) => event.data)),
    ]) {
      expect(text).not.toMatch(/inputHash|promptHash|input_hash|prompt_hash/);
      expect(text).not.toContain(inside!.inputHash!);
    }
  });
});
