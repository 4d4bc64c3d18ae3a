import { describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/logger.ts';
import { createStalenessTracker } from './generation-staleness.ts';
import { generationEnvPerSuite, sheetsOf } from './generation-test-helpers.ts';
import { createStalenessStore } from './staleness-store.ts';

// Staleness is told by the sheets service (a SheetExtension hook), and a check that a process
// recorded but never did is finished by the next start.
const env = generationEnvPerSuite({ resetFake: false });

const owner = () => env.members.owner.actor;
const sheets = () => sheetsOf(env.t);
const pendingStore = () => createStalenessStore(env.t.platform.database.db);
const pendingRows = () =>
  env.t.platform.database.db.selectFrom('staleness_pending').selectAll().execute();
const logger = createLogger({ level: 'silent', format: 'json' });

async function blurbColumn(name: string) {
  const data = await env.dataset(
    name,
    ['City', 'Note'],
    [
      { City: 'Quito', Note: 'a' },
      { City: 'Kyoto', Note: 'b' },
    ],
  );
  const created = await env.t.app.generation.aiColumns.createAiColumn(
    owner(),
    env.projectId,
    data.id,
    { name: 'Blurb', prompt: 'Blurb for {{City}}', provider: env.providerId, model: 'gpt-4o-mini' },
  );
  await env.waitForRun(data.id, created.run!.id);
  return { data, blurb: created.column.id, city: data.columns.City!, note: data.columns.Note! };
}

async function editCity(datasetId: string, cityId: string, rowId: string, value: string) {
  const [before] = (await env.cells(datasetId, cityId)).filter((cell) => cell.rowId === rowId);
  await sheets().editCell(owner(), env.projectId, datasetId, {
    rowId: BigInt(rowId),
    columnId: cityId,
    expectedVersion: before!.version,
    value,
  });
}

describe('staleness', () => {
  it('an edited input marks its AI cell stale and leaves no pending check behind', async () => {
    const { data, blurb, city, note } = await blurbColumn('Hooked');
    // A column no AI column reads records nothing.
    const [noteCell] = await env.cells(data.id, note);
    await sheets().editCell(owner(), env.projectId, data.id, {
      rowId: BigInt(noteCell!.rowId),
      columnId: note,
      expectedVersion: noteCell!.version,
      value: 'changed',
    });
    expect(await pendingRows()).toEqual([]);
    await editCity(data.id, city, data.rowIds[1]!, 'Osaka');
    await env.t.app.generation.staleness.settle();
    expect(await env.statuses(data.id, blurb)).toEqual(['done', 'stale']);
    expect(await pendingRows()).toEqual([]);
  });

  it('a crash between the write and the check loses nothing: the next start marks the cell', async () => {
    const { data, blurb, city } = await blurbColumn('Crash');
    // This process's tracker stops reacting; a stand-in records the check, lets the edit
    // commit, and "crashes" (closes) before checking.
    await env.t.app.generation.staleness.close();
    const doomed = createStalenessTracker({
      sheets: sheets(),
      store: env.t.app.generation.store,
      pending: pendingStore(),
      logger,
      delayMs: 3_600_000,
    });
    await doomed.cellsChanged(
      {
        projectId: env.projectId,
        datasetId: data.id,
        columnIds: [city],
        rowIds: [data.rowIds[0]!],
      },
      () => editCity(data.id, city, data.rowIds[0]!, 'Lima'),
    );
    await doomed.close();
    expect((await env.cells(data.id, city))[0]!.value).toBe('Lima');
    expect(await env.statuses(data.id, blurb)).toEqual(['done', 'done']);
    expect(await pendingRows()).toHaveLength(1);

    const restarted = createStalenessTracker({
      sheets: sheets(),
      store: env.t.app.generation.store,
      pending: pendingStore(),
      logger,
    });
    expect(await restarted.recover()).toBe(1);
    await restarted.settle();
    expect(await env.statuses(data.id, blurb)).toEqual(['stale', 'done']);
    expect(await pendingRows()).toEqual([]);
    // Finishing it twice (a second start) marks nothing more.
    expect(await restarted.recover()).toBe(0);
    await restarted.close();
  });
});
