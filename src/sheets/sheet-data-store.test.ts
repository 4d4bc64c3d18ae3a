import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDb, openDuckDb } from '../platform/duckdb/duckdb.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createSheetDataStore, type SheetDataStore } from './sheet-data-store.ts';
import type { ColumnRef } from './sheet-query.ts';

describe('sheet data store (DuckDB)', () => {
  let dir: string;
  let duckdb: DuckDb;
  let store: SheetDataStore;
  const name: ColumnRef = { id: uuidv7(), type: 'text', kind: 'static' };
  const score: ColumnRef = { id: uuidv7(), type: 'integer', kind: 'static' };
  const columns = [name, score];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bc-sheet-data-'));
    duckdb = await openDuckDb({ path: path.join(dir, 'test.duckdb'), connections: 3, threads: 2 });
    store = createSheetDataStore({ duckdb, orderingCacheThreshold: 50 });
  });
  afterAll(async () => {
    await store.clearCache();
    await duckdb.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function datasetWith(rows: number) {
    const id = uuidv7();
    await store.createTable(id, columns);
    await store.appendRows(
      id,
      columns,
      Array.from({ length: rows }, (_, index) => ({
        [name.id]: `name ${index % 7}`,
        [score.id]: index,
      })),
    );
    return id;
  }

  it('creates empty rows with ids 1…N and appends after them without reusing deleted ids', async () => {
    const id = uuidv7();
    await store.createTable(id, columns, 3);
    expect(await store.rowCount(id)).toBe(3);
    await store.deleteRows(id, [3n]);
    const appended = await store.appendRows(id, columns, [
      { [name.id]: 'a' },
      { [name.id]: 'b', [score.id]: 7 },
    ]);
    expect(appended).toEqual(['4', '5']);
    const window = await store.window(id, columns, { offset: 0, limit: 10, sort: [], filters: [] });
    expect(window.rows.map((row) => [row.rowId, row.ordinal])).toEqual([
      ['1', 1],
      ['2', 2],
      ['4', 3],
      ['5', 4],
    ]);
    expect(window.rows[3]!.cells[score.id]!.value).toBe(7);
  });

  it('refuses a value that does not fit the column type, writing nothing', async () => {
    const id = await datasetWith(2);
    await expect(
      store.appendRows(id, columns, [{ [score.id]: 1 }, { [score.id]: 'twelve' }]),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    expect(await store.rowCount(id)).toBe(2);
  });

  it('stages rows out of sight, then replaces the rows holding their keys in one write, keeping every other row', async () => {
    const id = uuidv7();
    await store.createTable(id, columns);
    // Rows an earlier write left (a and b), a row another writer added for b, and one for c.
    await store.appendRows(id, columns, [
      { [name.id]: 'a', [score.id]: 1 },
      { [name.id]: 'b', [score.id]: 2 },
      { [name.id]: 'b', [score.id]: 20 },
      { [name.id]: 'c', [score.id]: 3 },
    ]);
    const read = async () =>
      (await store.window(id, columns, { offset: 0, limit: 10, sort: [], filters: [] })).rows.map(
        (row) => [row.rowId, row.cells[name.id]!.value, row.cells[score.id]!.value],
      );
    const staged = async () =>
      (
        await duckdb.query<{ tables: bigint }>(
          "select count(*) as tables from duckdb_columns() where database_name = 'sheet_cache' and column_name = '_order'",
        )
      )[0]!.tables;
    const before = await read();
    const stage = store.stage(id, columns);
    // In parts, out of order: the order given is the order the rows are inserted in.
    await stage.add([{ [name.id]: 'd', [score.id]: 400 }], [2]);
    await stage.add(
      [
        { [name.id]: 'b', [score.id]: 200 },
        { [name.id]: 'a', [score.id]: 100 },
      ],
      [0, 1],
    );
    // A value the column's type refuses is refused when staged, and nothing of its part is.
    await expect(stage.add([{ [name.id]: 'e', [score.id]: 'many' }], [3])).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    expect(await read()).toEqual(before);
    expect(await staged()).toBe(1n);
    const replaced = await stage.replace(name);
    await stage.drop();
    expect(replaced.deleted.sort()).toEqual(['1', '2', '3']);
    expect(replaced.rowIds).toEqual(['5', '6', '7']);
    expect(await read()).toEqual([
      ['4', 'c', 3],
      ['5', 'b', 200],
      ['6', 'a', 100],
      ['7', 'd', 400],
    ]);
    expect(await staged()).toBe(0n);
    // A stage dropped without its replace (a step that failed) writes nothing.
    const failed = store.stage(id, columns);
    await failed.add([{ [name.id]: 'c', [score.id]: 9 }], [0]);
    await failed.drop();
    expect(await staged()).toBe(0n);
    expect((await read()).map(([rowId]) => rowId)).toEqual(['4', '5', '6', '7']);
  });

  it('compare-and-set: a stale version loses and gets the current value and version', async () => {
    const id = await datasetWith(3);
    const first = await store.compareAndSetCells(id, name, [
      { rowId: 1n, expectedVersion: 0, value: 'edited' },
    ]);
    expect(first.applied).toMatchObject([{ rowId: '1', version: 1, value: 'edited' }]);
    const stale = await store.compareAndSetCells(id, name, [
      { rowId: 1n, expectedVersion: 0, value: 'late' },
    ]);
    expect(stale.applied).toEqual([]);
    expect(stale.conflicts[0]).toMatchObject({
      rowId: '1',
      current: { value: 'edited', state: { version: 1 } },
    });
    const missing = await store.compareAndSetCells(id, name, [
      { rowId: 999n, expectedVersion: 0, value: 'x' },
    ]);
    expect(missing.conflicts).toEqual([{ rowId: '999', current: undefined }]);
  });

  it('50 concurrent editors of one cell: exactly one wins per version, no lost update', async () => {
    const id = await datasetWith(1);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, editor) =>
        store.compareAndSetCells(id, score, [{ rowId: 1n, expectedVersion: 0, value: editor }]),
      ),
    );
    const winners = results.filter((result) => result.applied.length === 1);
    expect(winners).toHaveLength(1);
    const winningValue = winners[0]!.applied[0]!.value;
    for (const result of results.filter((r) => r.applied.length === 0)) {
      expect(result.conflicts[0]!.current).toMatchObject({
        value: winningValue,
        state: { version: 1 },
      });
    }
    // Round two: every editor retries with what it saw; again exactly one wins.
    const second = await Promise.all(
      Array.from({ length: 50 }, (_, editor) =>
        store.compareAndSetCells(id, score, [
          { rowId: 1n, expectedVersion: 1, value: 100 + editor },
        ]),
      ),
    );
    expect(second.filter((result) => result.applied.length === 1)).toHaveLength(1);
    const cells = await store.readCells(id, [score], [1n]);
    expect(cells.get('1')![score.id]!.state.version).toBe(2);
  });

  it('writes cell state (status, validated, provenance) and keeps the value when none is given', async () => {
    const id = await datasetWith(1);
    const result = await store.compareAndSetCells(id, name, [
      {
        rowId: 1n,
        expectedVersion: 0,
        state: { status: 'error', error: 'boom', model: 'm', inputTokens: 12 },
      },
    ]);
    expect(result.applied[0]).toMatchObject({
      value: 'name 0',
      state: { status: 'error', error: 'boom', inputTokens: 12, version: 1 },
    });
    const cells = await store.readCells(id, [name], [1n]);
    expect(cells.get('1')![name.id]!.state).toMatchObject({
      status: 'error',
      error: 'boom',
      model: 'm',
      inputTokens: 12,
      version: 1,
    });
  });

  it('deletes 10,000 scattered rows in one statement and leaves every other id alone', async () => {
    const id = uuidv7();
    await store.createTable(id, columns, 50_000);
    const victims = Array.from({ length: 10_000 }, (_, index) => BigInt(index * 5 + 3));
    expect(await store.deleteRows(id, victims)).toBe(10_000);
    expect(await store.rowCount(id)).toBe(40_000);
    const window = await store.window(id, columns, { offset: 0, limit: 5, sort: [], filters: [] });
    expect(window.rows.map((row) => row.rowId)).toEqual(['1', '2', '4', '5', '6']);
  });

  it('sorts, filters and searches with computed ordinals, through the cached ordering too', async () => {
    const id = await datasetWith(200);
    const sorted = await store.window(id, columns, {
      offset: 10,
      limit: 3,
      sort: [{ columnId: score.id, direction: 'desc' }],
      filters: [{ columnId: name.id, op: 'equals', value: 'name 3' }],
    });
    // name 3 rows: scores 3, 10, 17, … 199 → 29 of them; descending from 199.
    expect(sorted.total).toBe(29);
    expect(sorted.rows.map((row) => [row.ordinal, row.cells[score.id]!.value])).toEqual([
      [11, 129],
      [12, 122],
      [13, 115],
    ]);
    /** A window of the rows sorted by score. */
    const byScore = (offset: number, limit: number) =>
      store.window(id, columns, {
        offset,
        limit,
        sort: [{ columnId: score.id, direction: 'asc' }],
        filters: [],
      });
    // Above the threshold (50): served from a cached ordering.
    const big = await byScore(150, 2);
    expect(big.total).toBe(200);
    expect(big.rows.map((row) => [row.ordinal, row.cells[score.id]!.value])).toEqual([
      [151, 150],
      [152, 151],
    ]);
    // A write invalidates the cached ordering.
    await store.deleteRows(id, [1n]);
    const after = await byScore(150, 1);
    expect(after.total).toBe(199);
    expect(after.rows[0]!.cells[score.id]!.value).toBe(151);
    // A value write to the sort column re-sorts; one to another column keeps the ordering.
    await store.compareAndSetCells(id, score, [{ rowId: 2n, expectedVersion: 0, value: 10_000 }]);
    await store.compareAndSetCells(id, name, [{ rowId: 3n, expectedVersion: 0, value: 'renamed' }]);
    const resorted = await byScore(198, 1);
    expect(resorted.rows[0]).toMatchObject({ rowId: '2', ordinal: 199 });
    const range = await store.window(id, columns, {
      offset: 0,
      limit: 100,
      sort: [],
      filters: [{ columnId: score.id, op: 'range', min: 10, max: 12 }],
    });
    expect(range.rows.map((row) => row.cells[score.id]!.value)).toEqual([10, 11, 12]);
    const search = await store.window(id, columns, {
      offset: 0,
      limit: 1,
      sort: [],
      filters: [],
      search: 'NAME 6',
    });
    expect(search.total).toBe(28);
    const keyset = await store.window(id, columns, {
      offset: 0,
      limit: 2,
      sort: [],
      filters: [],
      afterRowId: '100',
    });
    expect(keyset.rows.map((row) => [row.rowId, row.ordinal])).toEqual([
      ['101', 100],
      ['102', 101],
    ]);
  });

  it('serves large windows from cached views that never show a stale value', async () => {
    const id = await datasetWith(120);
    const read = (query: Partial<Parameters<SheetDataStore['window']>[2]>, all = columns) =>
      store.window(id, all, { offset: 0, limit: 3, sort: [], filters: [], ...query });
    const values = (result: Awaited<ReturnType<typeof read>>, column = name) =>
      result.rows.map((row) => [row.ordinal, row.rowId, row.cells[column.id]!.value]);

    // Default order without gaps: a range of ids.
    expect(values(await read({ offset: 60 }), score)).toEqual([
      [61, '61', 60],
      [62, '62', 61],
      [63, '63', 62],
    ]);
    // With a gap the ids no longer line up with positions: the cached ordering answers.
    await store.deleteRows(id, [2n]);
    expect(values(await read({ offset: 60 }), score)).toEqual([
      [61, '62', 61],
      [62, '63', 62],
      [63, '64', 63],
    ]);
    // Filtered, default order, past the first window.
    const named3 = await read({
      offset: 5,
      filters: [{ columnId: name.id, op: 'equals', value: 'name 3' }],
    });
    expect(named3.total).toBe(17);
    expect(values(named3, score)).toEqual([
      [6, '39', 38],
      [7, '46', 45],
      [8, '53', 52],
    ]);

    // Sorted: served from the view's copy of the values; a write to a column that is not a
    // sort key keeps the view, and the window reads that column from the table.
    const bySort = { sort: [{ columnId: score.id, direction: 'desc' as const }], offset: 10 };
    expect(values(await read(bySort))).toEqual([
      [11, '110', 'name 4'],
      [12, '109', 'name 3'],
      [13, '108', 'name 2'],
    ]);
    // The copy of the values is made in the background; windows read the same meanwhile.
    await store.copiesSettled();
    expect(values(await read(bySort))[0]).toEqual([11, '110', 'name 4']);
    await store.compareAndSetCells(id, name, [
      { rowId: 109n, expectedVersion: 0, value: 'edited after the view was built' },
    ]);
    expect(values(await read(bySort))[1]).toEqual([12, '109', 'edited after the view was built']);
    // A column added after the view was built is read from the table too.
    const added: ColumnRef = { id: uuidv7(), type: 'text', kind: 'static' };
    await store.addColumn(id, added);
    await store.compareAndSetCells(id, added, [{ rowId: 110n, expectedVersion: 0, value: 'new' }]);
    const withAdded = await read(bySort, [...columns, added]);
    expect(values(withAdded, added)[0]).toEqual([11, '110', 'new']);
    expect(withAdded.rows[0]!.cells[added.id]!.value).toBe('new');

    // Above the copy budget a view keeps row ids only, with the same answers.
    const idsOnly = createSheetDataStore({
      duckdb,
      orderingCacheThreshold: 50,
      materializeCells: 1,
    });
    try {
      const result = await idsOnly.window(id, columns, {
        offset: 10,
        limit: 3,
        sort: [{ columnId: score.id, direction: 'desc' }],
        filters: [],
      });
      expect(values(result)).toEqual(values(await read(bySort)));
    } finally {
      await idsOnly.clearCache();
    }
  });

  it('a dataset detached by the bound on attached files (issue #20) is attached again by its next read, with fresh values', async () => {
    const id = await datasetWith(120);
    const bySort = {
      offset: 10,
      limit: 3,
      sort: [{ columnId: score.id, direction: 'desc' as const }],
      filters: [],
    };
    const values = async () =>
      (await store.window(id, columns, bySort)).rows.map((row) => [
        row.rowId,
        row.cells[name.id]!.value,
      ]);
    const before = await values();
    await store.copiesSettled(); // the sorted view and its copy of the values are cached
    // What the bound does to an idle dataset (duckdb-datasets.ts): its file detached — and, as
    // another server may write it meanwhile, whatever was cached of it forgotten.
    await duckdb.datasets.detach(id);
    expect(duckdb.datasets.attached()).not.toContain(id);
    expect(await values()).toEqual(before);
    expect(duckdb.datasets.attached()).toContain(id);
    expect(await store.rowCount(id)).toBe(120);
    // Written while attached again, and read back through a fresh sorted view.
    await duckdb.datasets.detach(id);
    await store.compareAndSetCells(id, name, [
      { rowId: 109n, expectedVersion: 0, value: 'written after the reattach' },
    ]);
    expect((await values())[1]).toEqual(['109', 'written after the reattach']);
  });

  it('filters by cell status, counting untouched static cells as done', async () => {
    const id = await datasetWith(5);
    await store.compareAndSetCells(id, name, [
      { rowId: 2n, expectedVersion: 0, state: { status: 'error', error: 'x' } },
    ]);
    const errors = await store.window(id, columns, {
      offset: 0,
      limit: 10,
      sort: [],
      filters: [{ columnId: name.id, op: 'status', values: ['error'] }],
    });
    expect(errors.rows.map((row) => row.rowId)).toEqual(['2']);
    const done = await store.window(id, columns, {
      offset: 0,
      limit: 10,
      sort: [],
      filters: [{ columnId: name.id, op: 'status', values: ['done'] }],
    });
    expect(done.total).toBe(4);
  });

  it('changes a column type, reporting cells that do not convert and keeping their text', async () => {
    const id = uuidv7();
    const text: ColumnRef = { id: uuidv7(), type: 'text', kind: 'static' };
    await store.createTable(id, [text]);
    await store.appendRows(
      id,
      [text],
      [{ [text.id]: '12' }, { [text.id]: 'twelve' }, { [text.id]: null }],
    );
    const result = await store.changeColumnType(id, text.id, 'integer');
    expect(result).toEqual({ failed: 1, failures: [{ rowId: '2', raw: 'twelve' }] });
    const asInteger: ColumnRef = { ...text, type: 'integer' };
    const cells = await store.readCells(id, [asInteger], [1n, 2n]);
    expect(cells.get('1')![text.id]!.value).toBe(12);
    expect(cells.get('2')![text.id]).toMatchObject({
      value: null,
      state: { status: 'error', raw: 'twelve', version: 1 },
    });
    // The index came back: a window by id still works, and a drop works too.
    await store.dropColumn(id, text.id);
    expect(await store.rowCount(id)).toBe(3);
  });
});
