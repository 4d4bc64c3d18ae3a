import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createApiKey, type TestApiKey } from '../../../test/factories.ts';
import { identifierFor } from '../../platform/duckdb/duckdb-identifiers.ts';
import {
  type GenerationTestEnv,
  openGenerationTestEnvForFile,
  sheetsOf,
} from './generation-test-helpers.ts';

// What AI columns add to deleting a column and duplicating a dataset or a column.
let env: GenerationTestEnv;
let apiKey: TestApiKey;
openGenerationTestEnvForFile(async (opened) => {
  env = opened;
  apiKey = await createApiKey(env.t, env.members.editor);
});

const owner = () => env.members.owner.actor;
const aiColumns = () => env.t.app.generation.aiColumns;
const runs = () => env.t.app.generation.runs;
const sheets = () => sheetsOf(env.t);
const store = () => env.t.app.generation.store;
const inject = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  env.t.app.inject({ method, url, headers: apiKey.headers, ...(payload ? { payload } : {}) });

/** A person's thumbs-up on a cell. */
const thumbsUp = (datasetId: string, columnId: string, cell: { rowId: string; version: number }) =>
  sheets().editCell(owner(), env.projectId, datasetId, {
    rowId: BigInt(cell.rowId),
    columnId,
    expectedVersion: cell.version,
    validated: true,
  });
/** A cell a run holds (`generating`) at the moment of a copy. */
const holdGenerating = (datasetId: string, columnId: string, rowId: string, version: number) =>
  sheets().writeCells(owner(), env.projectId, datasetId, columnId, [
    { rowId: BigInt(rowId), expectedVersion: version, state: { status: 'generating' } },
  ]);
/** An input cell edited (never edited before), and the staleness check it starts done. */
async function editInput(datasetId: string, columnId: string, rowId: string, value: string) {
  await sheets().editCell(owner(), env.projectId, datasetId, {
    rowId: BigInt(rowId),
    columnId,
    expectedVersion: 0,
    value,
  });
  await env.t.app.generation.staleness.settle();
}
/** Every listed cell was made by its column's current prompt from its current inputs. */
async function expectUpToDate(datasetId: string, columnId: string, label: string) {
  for (const cell of await env.cells(datasetId, columnId)) {
    const provenance = await aiColumns().cellProvenance(
      owner(),
      env.projectId,
      datasetId,
      columnId,
      BigInt(cell.rowId),
    );
    expect(provenance.current.upToDate, `${label} row ${cell.rowId}`).toBe(true);
  }
}

async function aiColumn(datasetId: string, name: string, prompt: string, model = 'gpt-4o-mini') {
  const created = await aiColumns().createAiColumn(owner(), env.projectId, datasetId, {
    name,
    prompt,
    provider: env.providerId,
    model,
  });
  if (created.run) await env.waitForRun(datasetId, created.run.id);
  return created.column.id;
}

describe('deleting a column an AI column reads', () => {
  it('is refused naming the AI columns; with force their cells turn stale and runs are refused until the prompt is edited', async () => {
    const data = await env.dataset(
      'Delete input',
      ['City', 'Country'],
      [
        { City: 'Quito', Country: 'Ecuador' },
        { City: 'Kyoto', Country: 'Japan' },
        { City: 'Porto', Country: 'Portugal' },
      ],
    );
    const summary = await aiColumn(data.id, 'Summary', 'About {{City}} in {{Country}}');
    const tag = await aiColumn(data.id, 'Tag', 'Tag {{Country}}');
    const base = `/api/projects/${env.projectId}/datasets/${data.id}`;
    const [kept] = await env.cells(data.id, summary);
    await sheets().editCell(owner(), env.projectId, data.id, {
      rowId: BigInt(kept!.rowId),
      columnId: summary,
      expectedVersion: kept!.version,
      validated: true,
    });

    const refused = await inject('DELETE', `${base}/columns/${data.columns.City}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('Summary'),
      details: { columnIds: [summary], canForce: true },
    });
    const still = await sheets().getDataset(owner(), env.projectId, data.id);
    expect(still.columns.map((column) => column.name)).toEqual([
      'City',
      'Country',
      'Summary',
      'Tag',
    ]);
    expect(await env.statuses(data.id, summary)).toEqual(['done', 'done', 'done']);

    const forced = await inject('DELETE', `${base}/columns/${data.columns.City}?force=true`);
    expect(forced.statusCode).toBe(204);
    const after = await sheets().getDataset(owner(), env.projectId, data.id);
    expect(after.columns.map((column) => column.name)).toEqual(['Country', 'Summary', 'Tag']);
    // Generated cells are stale (their input is gone); the validated one is the person's.
    const cells = await env.cells(data.id, summary);
    expect(cells.map((cell) => [cell.rowId === kept!.rowId, cell.status])).toEqual([
      [true, 'done'],
      [false, 'stale'],
      [false, 'stale'],
    ]);

    // An AI column that did not read it is untouched, and still follows its own inputs.
    const tags = await env.cells(data.id, tag);
    expect(tags.map((cell) => cell.status)).toEqual(['done', 'done', 'done']);
    await editInput(data.id, data.columns.Country!, tags[1]!.rowId, 'Nippon');
    expect(await env.statuses(data.id, tag)).toEqual(['done', 'stale', 'done']);

    const view = (await inject('GET', `${base}/ai-columns/${summary}`)).json();
    expect(view.process).toMatchObject({
      prompt: 'About {{deleted column}} in {{Country}}',
      needsPromptEdit: true,
    });
    env.fake.reset();
    const run = await inject('POST', `${base}/ai-columns/${summary}/runs`, { mode: 'stale' });
    expect(run.statusCode).toBe(409);
    expect(run.json().error).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/Summary refers to a deleted column.*edit the prompt/),
      details: { columnId: summary, needsPromptEdit: true },
    });
    expect(env.fake.requests).toHaveLength(0);

    const edited = await inject('PATCH', `${base}/ai-columns/${summary}`, {
      prompt: 'About {{Country}}',
    });
    expect(edited.statusCode).toBe(200);
    expect(edited.json().process.needsPromptEdit).toBe(false);
    const rerun = await inject('POST', `${base}/ai-columns/${summary}/runs`, { mode: 'stale' });
    expect(rerun.statusCode).toBe(202);
    expect((await env.waitForRun(data.id, rerun.json().id)).status).toBe('completed');
    expect(await env.statuses(data.id, summary)).toEqual(['done', 'done', 'done']);
  });

  it('stops a run of the AI column in progress, leaving no cell generating', async () => {
    const rows = Array.from({ length: 30 }, (_, index) => ({ Item: `thing ${index}` }));
    const data = await env.dataset('Delete while running', ['Item'], rows);
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Out',
      prompt: 'Describe {{Item}}',
      provider: env.providerId,
      model: 'gpt-4o-mini@latency=200',
    });
    await env.fake.waitFor(() => true, 5_000);
    await sheets().deleteColumn(owner(), env.projectId, data.id, data.columns.Item!, {
      force: true,
    });
    const run = await env.waitForRun(data.id, created.run!.id, [
      'cancelled',
      'failed',
      'completed',
    ]);
    expect(run.status).toBe('cancelled');
    expect(run.error).toMatchObject({ code: 'CONFLICT' });
    const cells = await env.cells(data.id, created.column.id);
    expect(cells.filter((cell) => cell.status === 'generating')).toHaveLength(0);
    expect(run.progress.done).toBeLessThan(30);
  });

  it('deletes a column no AI column reads at once, and an AI column read by none', async () => {
    const data = await env.dataset('Unread', ['A', 'B'], [{ A: 'x', B: 'y' }]);
    const out = await aiColumn(data.id, 'Out', 'Say {{A}}');
    const base = `/api/projects/${env.projectId}/datasets/${data.id}`;
    expect((await inject('DELETE', `${base}/columns/${data.columns.B}`)).statusCode).toBe(204);
    expect((await inject('DELETE', `${base}/columns/${out}`)).statusCode).toBe(204);
  });
});

describe('duplicating a dataset with AI columns', () => {
  it('copies their processes and cell states; the copy is up to date like the source and regenerates what changes', async () => {
    const data = await env.dataset(
      'Source',
      ['Item'],
      ['apple', 'pear', 'plum', 'fig'].map((Item) => ({ Item })),
    );
    const out = await aiColumn(data.id, 'Out', 'Write about {{Item}}');
    const short = await aiColumn(data.id, 'Short', 'Shorten {{Out}} about {{Item}}');
    const sourceCells = await env.cells(data.id, out);
    // A person's thumbs-up, and a cell another run holds at the moment of the copy.
    await thumbsUp(data.id, out, sourceCells[0]!);
    await holdGenerating(
      data.id,
      short,
      sourceCells[1]!.rowId,
      (await env.cells(data.id, short))[1]!.version,
    );
    const sourceRuns = (await runs().listRuns(owner(), env.projectId, data.id)).length;
    expect(sourceRuns).toBe(2);

    const copied = await inject(
      'POST',
      `/api/projects/${env.projectId}/datasets/${data.id}/duplicate`,
      {},
    );
    expect(copied.statusCode).toBe(201);
    const copy = copied.json() as { id: string; columns: { id: string; name: string }[] };
    const idOf = (name: string) => copy.columns.find((column) => column.name === name)!.id;
    const base = `/api/projects/${env.projectId}/datasets/${copy.id}`;

    // The processes, prompts pointing at the copy's columns.
    const outView = (await inject('GET', `${base}/ai-columns/${idOf('Out')}`)).json();
    expect(outView.process).toMatchObject({
      prompt: 'Write about {{Item}}',
      model: 'gpt-4o-mini',
      provider: env.providerId,
      output: { type: 'text' },
      inputColumnIds: [idOf('Item')],
      needsPromptEdit: false,
    });
    const shortView = (await inject('GET', `${base}/ai-columns/${idOf('Short')}`)).json();
    expect(shortView.process.inputColumnIds).toEqual([idOf('Out'), idOf('Item')]);
    expect(shortView.dependsOn).toEqual([idOf('Out'), idOf('Item')]);
    // Runs are not copied.
    expect((await runs().listRuns(owner(), env.projectId, copy.id)).length).toBe(0);

    // Values, statuses and validated flags copied; every cell is as up to date as in the source.
    const copyOut = await env.cells(copy.id, idOf('Out'));
    expect(copyOut.map((cell) => [cell.value, cell.status, cell.validated])).toEqual(
      (await env.cells(data.id, out)).map((cell) => [cell.value, cell.status, cell.validated]),
    );
    for (const column of ['Out', 'Short']) await expectUpToDate(copy.id, idOf(column), column);
    // The cell that was generating in the source is settled in the copy (no run holds it).
    expect(await env.statuses(copy.id, idOf('Short'))).toEqual(['done', 'done', 'done', 'done']);

    // Nothing to regenerate, and an edit that changes nothing marks nothing stale.
    const stale = await runs().startRun(owner(), env.projectId, copy.id, idOf('Out'), {
      mode: 'outdated',
    });
    expect(stale).toMatchObject({ status: 'completed', progress: { total: 0 } });
    const same = await inject('PATCH', `${base}/ai-columns/${idOf('Out')}`, {
      prompt: 'Write about {{Item}}',
    });
    expect(same.json().staleCells).toBe(0);

    // An input edited in the copy makes that row stale there (not in the source), and a run
    // of the copy's column regenerates exactly it.
    await editInput(copy.id, idOf('Item'), copyOut[2]!.rowId, 'quince');
    expect(await env.statuses(copy.id, idOf('Out'))).toEqual(['done', 'done', 'stale', 'done']);
    expect((await env.cells(data.id, out)).every((cell) => cell.status === 'done')).toBe(true);
    env.fake.reset();
    const rerun = await runs().startRun(owner(), env.projectId, copy.id, idOf('Out'), {
      mode: 'stale',
    });
    expect((await env.waitForRun(copy.id, rerun.id)).progress).toMatchObject({
      total: 1,
      done: 1,
      errors: 0,
    });
    const prompts = env.fake.requests.map((request) => JSON.stringify(request.body));
    expect(prompts.some((prompt) => prompt.includes('Write about quince'))).toBe(true);
    const regenerated = (await env.cells(copy.id, idOf('Out')))[2]!;
    expect(regenerated.status).toBe('done');
    expect(regenerated.value).not.toBe(copyOut[2]!.value);
  });
});

describe('duplicating an AI column', () => {
  it('gives a second AI column with the same process and up-to-date cells, which is edited and run on its own', async () => {
    const data = await env.dataset(
      'Column copy',
      ['Item', 'Note'],
      ['apple', 'pear', 'plum'].map((Item) => ({ Item, Note: '' })),
    );
    const created = await aiColumns().createAiColumn(owner(), env.projectId, data.id, {
      name: 'Out',
      prompt: 'Write about {{Item}}',
      instructions: 'One sentence.',
      provider: env.providerId,
      model: 'gpt-4o-mini',
      parameters: { temperature: 0.3, maxOutputTokens: 200 },
    });
    await env.waitForRun(data.id, created.run!.id);
    const out = created.column.id;
    const short = await aiColumn(data.id, 'Short', 'Shorten {{Out}}');
    const sourceCells = await env.cells(data.id, out);
    await thumbsUp(data.id, out, sourceCells[0]!);
    // A cell a run of the source holds at the moment of the copy.
    await holdGenerating(data.id, out, sourceCells[2]!.rowId, sourceCells[2]!.version);
    // The staleness tracker has read (and cached) this dataset's processes before the copy.
    await editInput(data.id, data.columns.Note!, sourceCells[0]!.rowId, 'seen');
    const runsBefore = (await runs().listRuns(owner(), env.projectId, data.id)).length;

    const base = `/api/projects/${env.projectId}/datasets/${data.id}`;
    const duplicated = await inject('POST', `${base}/columns/${out}/duplicate`, {});
    expect(duplicated.statusCode).toBe(201);
    expect(duplicated.json()).toMatchObject({ name: 'Out (copy)', kind: 'ai', type: 'text' });
    const copyId = duplicated.json().id as string;
    const columns = (await sheets().getDataset(owner(), env.projectId, data.id)).columns;
    expect(columns.map((column) => column.name)).toEqual([
      'Item',
      'Note',
      'Out',
      'Out (copy)',
      'Short',
    ]);

    const view = await inject('GET', `${base}/ai-columns/${copyId}`);
    expect(view.statusCode).toBe(200);
    const source = (await inject('GET', `${base}/ai-columns/${out}`)).json().process;
    const {
      id: _sourceId,
      columnId: _sourceColumn,
      createdAt: _created,
      updatedAt: _updated,
      ...settings
    } = source;
    expect(view.json().process).toMatchObject({
      ...settings,
      columnId: copyId,
      prompt: 'Write about {{Item}}',
      instructions: 'One sentence.',
      parameters: { temperature: 0.3, maxOutputTokens: 200 },
      inputColumnIds: [data.columns.Item],
    });
    expect(view.json().process.id).not.toBe(source.id);
    expect(view.json()).toMatchObject({ dependsOn: [data.columns.Item], activeRun: null });
    // The column that read the source still reads the source.
    const shortView = (await inject('GET', `${base}/ai-columns/${short}`)).json();
    expect(shortView.process).toMatchObject({ prompt: 'Shorten {{Out}}', inputColumnIds: [out] });
    // Runs are not copied.
    expect((await runs().listRuns(owner(), env.projectId, data.id)).length).toBe(runsBefore);

    // Values and validated flags copied, every cell up to date; the cell that was generating
    // in the source is settled in the copy (no run holds it).
    const copyCells = await env.cells(data.id, copyId);
    expect(copyCells.map((cell) => [cell.value, cell.status, cell.validated])).toEqual(
      sourceCells.map((cell, index) => [cell.value, 'done', index === 0]),
    );
    await expectUpToDate(data.id, copyId, 'copy');
    const nothing = await runs().startRun(owner(), env.projectId, data.id, copyId, {
      mode: 'outdated',
    });
    expect(nothing).toMatchObject({ status: 'completed', progress: { total: 0 } });

    // The staleness tracker follows the copy at once (it had cached the dataset's processes
    // without it): an input edit marks the row stale in both columns.
    await editInput(data.id, data.columns.Item!, sourceCells[1]!.rowId, 'quince');
    expect(await env.statuses(data.id, copyId)).toEqual(['done', 'stale', 'done']);
    expect(await env.statuses(data.id, out)).toEqual(['done', 'stale', 'generating']);

    // Editing the copy's prompt marks the copy's generated cells stale, and only those.
    const edited = await inject('PATCH', `${base}/ai-columns/${copyId}`, {
      prompt: 'Write a haiku about {{Item}}',
    });
    expect(edited.statusCode).toBe(200);
    expect(edited.json().staleCells).toBe(1);
    expect(await env.statuses(data.id, copyId)).toEqual(['done', 'stale', 'stale']);
    expect(await env.statuses(data.id, out)).toEqual(['done', 'stale', 'generating']);

    // A run of the copy regenerates exactly those, with the copy's prompt.
    env.fake.reset();
    const run = await inject('POST', `${base}/ai-columns/${copyId}/runs`, { mode: 'stale' });
    expect(run.statusCode).toBe(202);
    expect((await env.waitForRun(data.id, run.json().id)).progress).toMatchObject({
      total: 2,
      done: 2,
      errors: 0,
    });
    const prompts = env.fake.requests.map((request) => JSON.stringify(request.body));
    expect(prompts).toHaveLength(2);
    expect(prompts.every((prompt) => prompt.includes('Write a haiku about'))).toBe(true);
    expect(prompts.some((prompt) => prompt.includes('Write a haiku about quince'))).toBe(true);
    const regenerated = await env.cells(data.id, copyId);
    expect(regenerated.map((cell) => cell.status)).toEqual(['done', 'done', 'done']);
    expect(regenerated[1]!.value).not.toBe(copyCells[1]!.value);
    const sourceAfter = await env.cells(data.id, out);
    expect(sourceAfter.map((cell) => [cell.value, cell.status])).toEqual([
      [sourceCells[0]!.value, 'done'],
      [sourceCells[1]!.value, 'stale'],
      [sourceCells[2]!.value, 'generating'],
    ]);

    // The copy is created by the actor, like a new AI column.
    const audit = await env.t.platform.database.db
      .selectFrom('audit_log')
      .select(['action', 'summary'])
      .where('entity_id', '=', copyId)
      .where('action', '=', 'ai-column.create')
      .execute();
    expect(audit).toEqual([
      {
        action: 'ai-column.create',
        summary: expect.objectContaining({ name: 'Out (copy)', copiedFrom: out }),
      },
    ]);
  });

  it('names further copies (copy 2), and a failure inside the transaction leaves no column behind', async () => {
    const data = await env.dataset('Column copy failure', ['Item'], [{ Item: 'fig' }]);
    const out = await aiColumn(data.id, 'Out', 'Write about {{Item}}');
    const base = `/api/projects/${env.projectId}/datasets/${data.id}`;
    const table = async () =>
      (
        await env.t.platform.duckdb.query<{ n: bigint }>(
          'select count(*) as n from information_schema.columns where table_name = ?',
          [identifierFor('ds', data.id)],
        )
      )[0]!.n;
    const tableColumns = await table();
    expect(tableColumns).toBeGreaterThan(0n);

    // The database refuses the copy's process: the column row written in the same
    // transaction goes too, and so do its DuckDB columns.
    const { db } = env.t.platform.database;
    await sql`create function refuse_process() returns trigger language plpgsql as $$ begin raise exception 'refused by test'; end $$`.execute(
      db,
    );
    await sql`create trigger refuse_process before insert on generation_process for each row execute function refuse_process()`.execute(
      db,
    );
    try {
      const failed = await inject('POST', `${base}/columns/${out}/duplicate`, {});
      expect(failed.statusCode).toBe(500);
    } finally {
      await sql`drop trigger refuse_process on generation_process`.execute(db);
      await sql`drop function refuse_process()`.execute(db);
    }
    const after = await sheets().getDataset(owner(), env.projectId, data.id);
    expect(after.columns.map((column) => column.name)).toEqual(['Item', 'Out']);
    expect(await table()).toBe(tableColumns);
    expect((await store().listProcesses(data.id)).map((process) => process.column_id)).toEqual([
      out,
    ]);

    const first = await inject('POST', `${base}/columns/${out}/duplicate`, {});
    const second = await inject('POST', `${base}/columns/${out}/duplicate`, {});
    expect([first.json().name, second.json().name]).toEqual(['Out (copy)', 'Out (copy 2)']);
    expect((await inject('GET', `${base}/ai-columns/${second.json().id}`)).statusCode).toBe(200);
    const named = await inject('POST', `${base}/columns/${out}/duplicate`, { name: 'Out' });
    expect(named.statusCode).toBe(409);
  });
});
