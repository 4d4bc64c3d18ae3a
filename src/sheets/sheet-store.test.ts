import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../platform/ids.ts';
import { createSheetStore, type SheetStore } from './sheet-store.ts';
import { openSheetsTestEnvForFile } from './sheet-test-helpers.ts';

describe('sheet store metadata cache', () => {
  let store: SheetStore;
  let projectId: string;

  openSheetsTestEnvForFile((env) => {
    store = createSheetStore(env.platform.database.db);
    projectId = env.projectId;
  });

  async function dataset(columns: string[]) {
    const id = uuidv7();
    await store.insertDataset({ id, project_id: projectId, name: 'Cached', status: 'ready' });
    await store.insertColumns(
      columns.map((name, position) => ({
        id: uuidv7(),
        dataset_id: id,
        name,
        type: 'text' as const,
        kind: 'static' as const,
        position,
      })),
    );
    return id;
  }
  const names = async (id: string) =>
    (await store.findDatasetWithColumns(projectId, id))?.columns.map((column) => column.name);

  it('serves the cached rows until a write through the store, then reads again', async () => {
    const id = await dataset(['A', 'B']);
    const first = await store.findDatasetWithColumns(projectId, id);
    expect((await store.findDatasetWithColumns(projectId, id))?.columns).toBe(first!.columns); // cached
    expect(Object.isFrozen(first!.columns[0])).toBe(true);

    await store.updateColumn(first!.columns[0]!.id, { name: 'A renamed' });
    expect(await names(id)).toEqual(['A renamed', 'B']);

    await store.transaction(async (trx) => {
      await store.insertColumns(
        [{ id: uuidv7(), dataset_id: id, name: 'C', type: 'text', kind: 'static', position: 2 }],
        trx,
      );
    });
    expect(await names(id)).toEqual(['A renamed', 'B', 'C']);

    await store.updateDataset(id, { deleted_at: new Date() });
    expect(await store.findDatasetWithColumns(projectId, id)).toBeUndefined();
    // Another project never sees it.
    expect(await store.findDatasetWithColumns(uuidv7(), id)).toBeUndefined();
  });

  it('reads racing writes never leave an old name behind', async () => {
    const id = await dataset(['Before']);
    const columnId = (await store.listColumns(id))[0]!.id;
    for (let round = 0; round < 20; round++) {
      const name = `Name ${round}`;
      // The reads and the write interleave in the database's queue; whatever the reads
      // returned, the next read after the write must see the write.
      await Promise.all([
        store.findDatasetWithColumns(projectId, id),
        store.updateColumn(columnId, { name }),
        store.findDatasetWithColumns(projectId, id),
      ]);
      expect(await names(id)).toEqual([name]);
    }
  });
});
