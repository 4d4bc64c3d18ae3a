import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import type { TestPlatform } from '../../test/test-platform.ts';
import type { Actor } from '../access/actor.ts';
import type { StreamEvent } from '../platform/events.ts';
import { uuidv7 } from '../platform/ids.ts';
import { presentColumn, presentDataset } from './sheet-presenter.ts';
import type { CellValue } from './sheet-schema.ts';
import { datasetStream, type SheetExtension } from './sheet-service.ts';
import {
  openSheetsTestEnvForFile,
  peopleWithLabel,
  sheetsOn,
  testActor,
} from './sheet-test-helpers.ts';

describe('sheet service', () => {
  let platform: TestPlatform;
  let module: ReturnType<typeof sheetsOn>;
  let editor: Actor;
  let viewer: Actor;
  let projectId: string;

  /** A person's edit of one cell's value (compare-and-set on `expectedVersion`). */
  const editValue = (
    actor: Actor,
    datasetId: string,
    rowId: bigint,
    columnId: string,
    expectedVersion: number,
    value: CellValue,
  ) =>
    module.sheets.editCell(actor, projectId, datasetId, {
      rowId,
      columnId,
      expectedVersion,
      value,
    });

  openSheetsTestEnvForFile((env) => {
    ({ platform, module, editor, viewer, projectId } = env);
  });

  const create = () =>
    module.sheets.createDataset(editor, projectId, {
      name: '  People  ',
      rows: 3,
      columns: [
        { name: 'Name', type: 'text' },
        { name: 'Age', type: 'integer' },
      ],
    });

  it('creates, lists, renames and duplicates datasets; checks access first', async () => {
    const dataset = await create();
    expect(dataset).toMatchObject({ name: 'People', rowCount: 3, status: 'ready' });
    expect(dataset.columns.map((column) => [column.name, column.type, column.position])).toEqual([
      ['Name', 'text', 0],
      ['Age', 'integer', 1],
    ]);
    await expect(
      module.sheets.createDataset(viewer, projectId, { name: 'x' }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(module.sheets.listDatasets(testActor(), projectId)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(module.sheets.getDataset(editor, uuidv7(), dataset.id)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(
      module.sheets.renameDataset(editor, projectId, dataset.id, 'bad\u0000name'),
    ).rejects.toMatchObject({ name: 'ZodError' });
    const renamed = await module.sheets.renameDataset(editor, projectId, dataset.id, 'Folks');
    expect(renamed.name).toBe('Folks');
    const rows = await module.sheets.readWindow(editor, projectId, dataset.id, {});
    await editValue(
      editor,
      dataset.id,
      BigInt(rows.rows[0]!.rowId),
      dataset.columns[0]!.id,
      0,
      'Ada',
    );
    const copy = await module.sheets.duplicateDataset(editor, projectId, dataset.id);
    expect(copy).toMatchObject({ name: 'Folks (copy)', rowCount: 3 });
    const copied = await module.sheets.readWindow(editor, projectId, copy.id, {});
    expect(copied.rows[0]!.cells[copy.columns[0]!.id]).toMatchObject({ value: 'Ada', version: 1 });
    const list = await module.sheets.listDatasets(viewer, projectId);
    expect(list.map((item) => item.id)).toEqual(expect.arrayContaining([dataset.id, copy.id]));
  });

  it('soft-deletes, restores, and purges after the retention window', async () => {
    const dataset = await create();
    // Its values live in a file of their own, which the purge deletes.
    const file = path.join(platform.config.dataDir, 'datasets', `${dataset.id}.duckdb`);
    expect(existsSync(file)).toBe(true);
    await module.sheets.deleteDataset(editor, projectId, dataset.id);
    await expect(module.sheets.getDataset(editor, projectId, dataset.id)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(
      (await module.sheets.listDatasets(editor, projectId, { deleted: true })).map(
        (item) => item.id,
      ),
    ).toContain(dataset.id);
    await module.sheets.restoreDataset(editor, projectId, dataset.id);
    expect((await module.sheets.getDataset(editor, projectId, dataset.id)).rowCount).toBe(3);
    await module.sheets.deleteDataset(editor, projectId, dataset.id);
    expect(await module.sheets.purgeExpiredDatasets(new Date())).toBe(0);
    const later = new Date(Date.now() + (platform.config.sheets.retentionDays + 1) * 86_400_000);
    expect(await module.sheets.purgeExpiredDatasets(later)).toBeGreaterThanOrEqual(1);
    await expect(module.sheets.restoreDataset(editor, projectId, dataset.id)).rejects.toMatchObject(
      { code: 'NOT_FOUND' },
    );
    await expect(module.data.rowCount(dataset.id)).rejects.toThrow(/does not exist/);
    expect(existsSync(file)).toBe(false);
  });

  it('manages columns: unique trimmed names, reorder, hide, duplicate, type change, delete', async () => {
    const dataset = await create();
    const [name, age] = dataset.columns;
    await expect(
      module.sheets.addColumn(editor, projectId, dataset.id, { name: ' name ' }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(
      module.sheets.addColumn(editor, projectId, dataset.id, { name: 'x'.repeat(201) }),
    ).rejects.toMatchObject({ name: 'ZodError' });
    const city = await module.sheets.addColumn(editor, projectId, dataset.id, {
      name: 'City',
      position: 0,
    });
    let current = await module.sheets.getDataset(editor, projectId, dataset.id);
    expect(current.columns.map((column) => column.name)).toEqual(['City', 'Name', 'Age']);
    await module.sheets.reorderColumns(editor, projectId, dataset.id, [name!.id, age!.id, city.id]);
    await module.sheets.updateColumn(editor, projectId, dataset.id, city.id, {
      hidden: true,
      name: 'Town',
    });
    current = await module.sheets.getDataset(editor, projectId, dataset.id);
    expect(current.columns.map((column) => [column.name, column.hidden])).toEqual([
      ['Name', false],
      ['Age', false],
      ['Town', true],
    ]);
    const window = await module.sheets.readWindow(editor, projectId, dataset.id, {});
    expect(Object.keys(window.rows[0]!.cells)).toEqual([name!.id, age!.id]);
    const rowId = BigInt(window.rows[0]!.rowId);
    await module.sheets.editCell(editor, projectId, dataset.id, {
      rowId,
      columnId: name!.id,
      expectedVersion: 0,
      value: '42',
    });
    await editValue(editor, dataset.id, rowId + 1n, name!.id, 0, 'forty');
    const copy = await module.sheets.duplicateColumn(editor, projectId, dataset.id, name!.id);
    expect(copy.name).toBe('Name (copy)');
    const changed = await module.sheets.updateColumn(editor, projectId, dataset.id, copy.id, {
      type: 'integer',
    });
    expect(changed.conversion).toEqual({
      failed: 1,
      failures: [{ rowId: String(rowId + 1n), raw: 'forty' }],
    });
    const after = await module.sheets.readWindow(editor, projectId, dataset.id, {
      columns: [copy.id],
    });
    expect(after.rows[0]!.cells[copy.id]).toMatchObject({ value: 42 });
    expect(after.rows[1]!.cells[copy.id]).toMatchObject({
      value: null,
      status: 'error',
      raw: 'forty',
    });
    await module.sheets.deleteColumn(editor, projectId, dataset.id, copy.id);
    expect((await module.sheets.getDataset(editor, projectId, dataset.id)).columns).toHaveLength(3);
  });

  it('edits cells with compare-and-set: 409 with the current value and version, events to viewers', async () => {
    const dataset = await create();
    const [name] = dataset.columns;
    const subscription = await module.events.subscribe(datasetStream(dataset.id));
    const edited = await editValue(editor, dataset.id, 1n, name!.id, 0, 'Ada');
    expect(edited).toMatchObject({ value: 'Ada', version: 1, status: 'done', validated: true });
    await expect(editValue(editor, dataset.id, 1n, name!.id, 0, 'Bob')).rejects.toMatchObject({
      code: 'CONFLICT',
      details: { current: { value: 'Ada', version: 1 } },
    });
    await expect(editValue(viewer, dataset.id, 1n, name!.id, 1, 'x')).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    await expect(editValue(editor, dataset.id, 999n, name!.id, 0, 'x')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const events = subscription.take();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'cells-update',
      data: { columnId: name!.id, cells: [{ rowId: '1', value: 'Ada', version: 1 }] },
    });
    subscription.close();
  });

  it("stages rows while another writer appends, then replaces by a key: the writer's row for a staged key is replaced, its other row kept", async () => {
    const dataset = await module.sheets.createDataset(editor, projectId, {
      name: 'Extraction',
      columns: [{ name: 'Document id' }, { name: 'Amount', type: 'number' }],
    });
    const [key, amount] = dataset.columns;
    const row = (document: string, value: number) => ({ [key!.id]: document, [amount!.id]: value });
    const earlier = await module.sheets.appendRows(editor, projectId, dataset.id, [
      row('d1', 1),
      row('d2', 2),
    ]);
    await expect(module.sheets.stageRows(viewer, projectId, dataset.id)).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    const stage = await module.sheets.stageRows(editor, projectId, dataset.id);
    await stage.add([row('d2', 20)], [1]);
    // Another writer, between the parts: a row for a staged document and one for another.
    const other = await module.sheets.appendRows(editor, projectId, dataset.id, [
      row('d1', 99),
      row('d9', 9),
    ]);
    await stage.add([row('d1', 10)], [0]);
    await expect(stage.add([{ unknown: 1 }], [2])).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    // Nothing staged is seen before the replace.
    const read = async () =>
      (
        await module.sheets.runSql(
          editor,
          projectId,
          dataset.id,
          `select "Document id" as document, "Amount" as amount from dataset order by _row_id`,
        )
      ).rows;
    expect(await read()).toEqual([
      { document: 'd1', amount: 1 },
      { document: 'd2', amount: 2 },
      { document: 'd1', amount: 99 },
      { document: 'd9', amount: 9 },
    ]);
    const subscription = await module.events.subscribe(datasetStream(dataset.id));
    const replaced = await stage.replace(key!.id);
    await stage.drop();
    expect(await read()).toEqual([
      { document: 'd9', amount: 9 },
      { document: 'd1', amount: 10 },
      { document: 'd2', amount: 20 },
    ]);
    expect(replaced.deleted.sort()).toEqual(
      [...earlier.rowIds, other.rowIds[0]!].map(String).sort(),
    );
    expect(subscription.take().map((event: StreamEvent) => [event.type, event.data])).toEqual([
      ['rows-delete', { rowIds: replaced.deleted }],
      ['rows-append', { rowIds: replaced.rowIds }],
    ]);
    subscription.close();
    // A staged column whose type changed before the replace refuses it, and writes nothing.
    const changed = await module.sheets.stageRows(editor, projectId, dataset.id);
    await changed.add([row('d9', 90)], [0]);
    await module.sheets.updateColumn(editor, projectId, dataset.id, amount!.id, { type: 'text' });
    await expect(changed.replace(key!.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    await changed.drop();
    expect((await read()).map((found) => found.document)).toEqual(['d9', 'd1', 'd2']);
  });

  it('edits many cells in one transaction: per-cell conflicts, casts, AI cells validated, one event per column', async () => {
    const { dataset, name, age, label } = await peopleWithLabel(module, editor, projectId);
    const ai = await module.sheets.addColumn(
      editor,
      projectId,
      dataset.id,
      { name: 'Summary' },
      { ai: async () => {} },
    );
    // A failed AI cell: the paste replaces it as a user edit.
    await module.sheets.writeCells(editor, projectId, dataset.id, ai.id, [
      { rowId: 3n, expectedVersion: 0, state: { status: 'error', error: 'boom' } },
    ]);
    // The bus writes each event to its log before handing it on: the first edit's events (its
    // cell and the formula's recompute) are taken before the bulk edit, and its own awaited.
    const subscription = await module.events.subscribe(datasetStream(dataset.id));
    const taken: StreamEvent[] = [];
    const takeUntil = (done: (list: StreamEvent[]) => boolean, what: string) =>
      eventually(
        () => {
          taken.push(...subscription.take().filter((event) => event.type === 'cells-update'));
          return taken;
        },
        done,
        { what },
      );
    await editValue(editor, dataset.id, 1n, name!.id, 0, 'Ada');
    await takeUntil(
      (list) => list.some((event) => (event.data as { columnId: string }).columnId === label.id),
      "the first edit's formula recompute",
    );
    taken.length = 0;
    const result = await module.sheets.editCells(editor, projectId, dataset.id, [
      // Stale: the client saw version 0, someone wrote version 1 meanwhile.
      { rowId: '1', columnId: name!.id, value: 'Bob', expectedVersion: 0 },
      { rowId: '2', columnId: name!.id, value: 'cy', expectedVersion: 0 },
      { rowId: '3', columnId: name!.id, value: 'di', expectedVersion: 0 },
      { rowId: '2', columnId: age!.id, value: '41', expectedVersion: 0 },
      { rowId: '3', columnId: ai.id, value: 'hand-written' },
    ]);
    expect(result.conflicts).toEqual([
      {
        index: 0,
        rowId: '1',
        columnId: name!.id,
        current: expect.objectContaining({ value: 'Ada', version: 1 }),
      },
    ]);
    expect(
      result.cells.map((cell) => [cell.rowId, cell.columnId, cell.value, cell.version]),
    ).toEqual([
      ['2', name!.id, 'cy', 1],
      ['3', name!.id, 'di', 1],
      ['2', age!.id, 41, 1],
      ['3', ai.id, 'hand-written', 2],
    ]);
    const window = await module.sheets.readWindow(editor, projectId, dataset.id, {});
    const cellsOf = (rowId: string) => window.rows.find((row) => row.rowId === rowId)!.cells;
    expect(cellsOf('1')[name!.id]).toMatchObject({ value: 'Ada', version: 1 });
    expect(cellsOf('2')[age!.id]).toMatchObject({ value: 41, status: 'done', validated: true });
    expect(cellsOf('3')[ai.id]).toMatchObject({
      value: 'hand-written',
      status: 'done',
      error: null,
      validated: true,
    });
    expect(cellsOf('2')[label.id]!.value).toBe('CY');
    expect(cellsOf('3')[label.id]!.value).toBe('DI');
    const events = await takeUntil((list) => list.length >= 4, 'four cells-update events');
    subscription.close();
    // One event per column written (the formula's recompute included), not one per cell.
    expect(
      events.map((event) => {
        const data = event.data as { columnId: string; cells: { rowId: string }[] };
        return [data.columnId, data.cells.map((cell) => cell.rowId)];
      }),
    ).toEqual([
      [name!.id, ['2', '3']],
      [age!.id, ['2']],
      [ai.id, ['3']],
      [label.id, expect.arrayContaining(['2', '3'])],
    ]);
  });

  it('refuses a bad item of a bulk edit naming it, and writes nothing', async () => {
    const { dataset, name, age, label } = await peopleWithLabel(module, editor, projectId);
    const good = { rowId: '1', columnId: name!.id, value: 'Ada', expectedVersion: 0 };
    const refused: [unknown, object][] = [
      [
        { rowId: '2', columnId: age!.id, value: 'forty' },
        { code: 'VALIDATION_ERROR', details: { issues: [{ path: 'cells.1.value' }] } },
      ],
      [
        { rowId: '2', columnId: uuidv7(), value: 'x' },
        { code: 'NOT_FOUND', details: { entity: 'column', path: 'cells.1.columnId' } },
      ],
      [
        { rowId: '999', columnId: name!.id, value: 'x' },
        { code: 'NOT_FOUND', details: { entity: 'row', id: '999', path: 'cells.1.rowId' } },
      ],
      [
        { rowId: '2', columnId: label.id, value: 'x' },
        { code: 'VALIDATION_ERROR', details: { issues: [{ path: 'cells.1.columnId' }] } },
      ],
      [
        { ...good, value: 'again' },
        { code: 'VALIDATION_ERROR', details: { issues: [{ path: 'cells.1' }] } },
      ],
    ];
    for (const [bad, error] of refused) {
      await expect(
        module.sheets.editCells(editor, projectId, dataset.id, [good, bad as typeof good]),
      ).rejects.toMatchObject(error);
    }
    await expect(
      module.sheets.editCells(viewer, projectId, dataset.id, [good]),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const window = await module.sheets.readWindow(editor, projectId, dataset.id, {});
    for (const row of window.rows)
      for (const cell of Object.values(row.cells)) expect(cell.version).toBe(0);
  });

  it('lets exactly one of many concurrent bulk edits win each cell version', async () => {
    const dataset = await create();
    const [name, age] = dataset.columns;
    const writers = Array.from({ length: 8 }, (_, writer) =>
      module.sheets.editCells(editor, projectId, dataset.id, [
        { rowId: '1', columnId: name!.id, value: `writer ${writer}`, expectedVersion: 0 },
        { rowId: '2', columnId: age!.id, value: writer, expectedVersion: 0 },
      ]),
    );
    // A single-cell edit races them on one of the same cells.
    const single = module.sheets
      .editCell(editor, projectId, dataset.id, {
        rowId: 1n,
        columnId: name!.id,
        expectedVersion: 0,
        value: 'single',
      })
      .then(
        () => 'won',
        (error: { code?: string }) => error.code,
      );
    const results = await Promise.all(writers);
    const singleOutcome = await single;
    const nameWins = results.filter((result) =>
      result.cells.some((cell) => cell.columnId === name!.id),
    ).length;
    const ageWins = results.filter((result) =>
      result.cells.some((cell) => cell.columnId === age!.id),
    ).length;
    expect(nameWins + (singleOutcome === 'won' ? 1 : 0)).toBe(1);
    expect(singleOutcome === 'won' || singleOutcome === 'CONFLICT').toBe(true);
    expect(ageWins).toBe(1);
    for (const result of results) expect(result.cells.length + result.conflicts.length).toBe(2);
    const window = await module.sheets.readWindow(editor, projectId, dataset.id, {});
    expect(window.rows[0]!.cells[name!.id]!.version).toBe(1);
    expect(window.rows[1]!.cells[age!.id]!.version).toBe(1);
  });

  it('a formula that fails on a row marks that cell error with its message; NULLs it returns are values', async () => {
    const dataset = await module.sheets.createDataset(editor, projectId, {
      name: 'Formula errors',
      rows: 0,
      columns: [
        { name: 'Code', type: 'text' },
        { name: 'Doc', type: 'text' },
      ],
    });
    const [code, doc] = dataset.columns;
    const { rowIds } = await module.sheets.appendRows(editor, projectId, dataset.id, [
      { [code!.id]: 'abc', [doc!.id]: '{"a": 1}' },
      { [code!.id]: '12', [doc!.id]: 'not json' },
      { [code!.id]: null, [doc!.id]: null },
      { [code!.id]: '7', [doc!.id]: '{"b": 2}' },
    ]);
    const doubled = await module.sheets.addColumn(editor, projectId, dataset.id, {
      name: 'Doubled',
      type: 'integer',
      formula: 'cast({{Code}} as integer) * 2',
    });
    const lenient = await module.sheets.addColumn(editor, projectId, dataset.id, {
      name: 'Lenient',
      type: 'integer',
      formula: 'try_cast({{Code}} as integer)',
    });
    const field = await module.sheets.addColumn(editor, projectId, dataset.id, {
      name: 'Field',
      type: 'integer',
      formula: "json_extract({{Doc}}, '$.a')",
    });
    const cells = async (columnId: string) =>
      (await module.sheets.readWindow(editor, projectId, dataset.id, {})).rows.map((row) => {
        const cell = row.cells[columnId]!;
        return [cell.value, cell.status, cell.error];
      });
    const doubledCells = await cells(doubled.id);
    expect(doubledCells.map(([value, status]) => [value, status])).toEqual([
      [null, 'error'],
      [24, 'done'],
      [null, 'done'], // NULL input → NULL value, not an error
      [14, 'done'],
    ]);
    // DuckDB's own message, one line, the column shown by its name.
    expect(doubledCells[0]![2]).toMatch(/^Conversion Error: Could not convert string 'abc'/);
    expect(doubledCells[0]![2]).not.toMatch(/col_[0-9a-f]{32}/);
    expect(doubledCells[0]![2]).not.toContain('\n');
    // try_cast returning NULL is the formula's answer, not a failure.
    expect(await cells(lenient.id)).toEqual([
      [null, 'done', null],
      [12, 'done', null],
      [null, 'done', null],
      [7, 'done', null],
    ]);
    const fieldCells = await cells(field.id);
    expect(fieldCells.map(([value, status]) => [value, status])).toEqual([
      [1, 'done'],
      [null, 'error'],
      [null, 'done'],
      [null, 'done'],
    ]);
    expect(fieldCells[1]![2]).toMatch(/Malformed JSON/);

    // Fixing the input recomputes that row: the error clears; breaking another sets one.
    await editValue(editor, dataset.id, BigInt(rowIds[0]!), code!.id, 0, '5');
    await editValue(editor, dataset.id, BigInt(rowIds[3]!), code!.id, 0, 'x7');
    const window = await module.sheets.readWindow(editor, projectId, dataset.id, {});
    expect(window.rows[0]!.cells[doubled.id]).toMatchObject({
      value: 10,
      status: 'done',
      error: null,
      version: 2, // error (1), then computed again (2)
    });
    expect(window.rows[3]!.cells[doubled.id]).toMatchObject({ value: null, status: 'error' });
    expect(window.rows[3]!.cells[doubled.id]!.error).toContain("'x7'");
  });

  it('a formula failing on many rows stays set-based: all are marked, the first 100 carry a message', async () => {
    const dataset = await module.sheets.createDataset(editor, projectId, {
      name: 'Many formula errors',
      rows: 0,
      columns: [{ name: 'Code', type: 'text' }],
    });
    const [code] = dataset.columns;
    await module.sheets.appendRows(
      editor,
      projectId,
      dataset.id,
      Array.from({ length: 1_000 }, (_, index) => ({
        [code!.id]: index % 5 === 0 ? `bad ${index}` : String(index),
      })),
    );
    const parsed = await module.sheets.addColumn(editor, projectId, dataset.id, {
      name: 'Parsed',
      type: 'integer',
      formula: '{{Code}}::integer',
    });
    const window = await module.sheets.readWindow(editor, projectId, dataset.id, {
      limit: 1_000,
    });
    const errors = window.rows.filter((row) => row.cells[parsed.id]!.status === 'error');
    expect(errors).toHaveLength(200);
    expect(errors.every((row) => row.cells[parsed.id]!.value === null)).toBe(true);
    const detailed = errors.filter(
      (row) => row.cells[parsed.id]!.error !== 'The formula failed on this row',
    );
    expect(detailed).toHaveLength(100);
    expect(detailed[0]!.cells[parsed.id]!.error).toContain("'bad 0'");
    expect(window.rows[1]!.cells[parsed.id]).toMatchObject({ value: 1, status: 'done' });
  });

  it('appends and deletes rows; formula columns follow their inputs', async () => {
    const dataset = await create();
    const [name, age] = dataset.columns;
    const formula = await module.sheets.addColumn(editor, projectId, dataset.id, {
      name: 'Label',
      formula: "upper({{Name}}) || ' (' || cast({{age}} as varchar) || ')'",
    });
    // The use case returns the column as stored; the presenter shows it with current names.
    const stored = await module.sheets.getDataset(editor, projectId, dataset.id);
    expect(presentColumn(formula, stored.columns)).toMatchObject({
      kind: 'formula',
      formula: "upper({{Name}}) || ' (' || cast({{Age}} as varchar) || ')'",
    });
    const { rowIds } = await module.sheets.appendRows(editor, projectId, dataset.id, [
      { [name!.id]: 'ada', [age!.id]: 36 },
    ]);
    let window = await module.sheets.readWindow(editor, projectId, dataset.id, { afterRowId: '3' });
    expect(window.rows[0]!.cells[formula.id]!.value).toBe('ADA (36)');
    await editValue(editor, dataset.id, BigInt(rowIds[0]!), age!.id, 0, 37);
    window = await module.sheets.readWindow(editor, projectId, dataset.id, { afterRowId: '3' });
    expect(window.rows[0]!.cells[formula.id]!.value).toBe('ADA (37)');
    // A rename keeps the formula working (references are stored by id).
    await module.sheets.updateColumn(editor, projectId, dataset.id, name!.id, {
      name: 'Full name',
    });
    const shown = await module.sheets.getDataset(editor, projectId, dataset.id);
    expect(
      presentDataset(shown).columns.find((column) => column.id === formula.id)!.formula,
    ).toContain('{{Full name}}');
    await expect(
      module.sheets.deleteColumn(editor, projectId, dataset.id, name!.id),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(
      module.sheets.addColumn(editor, projectId, dataset.id, {
        name: 'Bad',
        formula: '(select 1)',
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    await expect(
      module.sheets.addColumn(editor, projectId, dataset.id, {
        name: 'Bad',
        formula: "read_csv('/etc/passwd')",
      }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    await expect(
      module.sheets.updateColumn(editor, projectId, dataset.id, formula.id, {
        formula: '{{Label}}',
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    const { deleted } = await module.sheets.deleteRows(editor, projectId, dataset.id, [
      1n,
      2n,
      BigInt(rowIds[0]!),
    ]);
    expect(deleted).toBe(3);
    window = await module.sheets.readWindow(editor, projectId, dataset.id, {});
    expect(window.rows.map((row) => [row.rowId, row.ordinal])).toEqual([['3', 1]]);
  });

  it('runs read-only SQL over one dataset and refuses everything else', async () => {
    const dataset = await create();
    const other = await create();
    const [name] = dataset.columns;
    await editValue(editor, dataset.id, 1n, name!.id, 0, 'Ada');
    const result = await module.sheets.runSql(
      viewer,
      projectId,
      dataset.id,
      'with t as (select "Name" from dataset where "Name" is not null) select count(*) as n, min("Name") as first from t',
    );
    expect(result.rows).toEqual([{ n: '1', first: 'Ada' }]);
    const refused = [
      "ATTACH '/tmp/x.duckdb' AS x",
      "COPY (select 1) TO '/tmp/out.csv'",
      'INSTALL httpfs',
      'LOAD httpfs',
      'SET enable_external_access = true',
      'select * from dataset; select 1',
      `select * from ds_${other.id.replaceAll('-', '')}`,
      `select * from main.ds_${other.id.replaceAll('-', '')}`,
      "select * from read_csv('/etc/passwd')",
      "select * from '/etc/passwd'",
      "select read_text('/etc/passwd')",
      'select * from duckdb_tables()',
      "select getenv('HOME')",
      "select current_setting('memory_limit')",
      'select * from sheet_cache.x',
      'select * from dataset where "Name" in (select * from glob(\'/*\'))',
      'delete from dataset',
      'update dataset set "Name" = 1',
      'drop table dataset',
      'pragma version',
    ];
    for (const sql of refused) {
      await expect(
        module.sheets.runSql(viewer, projectId, dataset.id, sql),
        sql,
      ).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    }
    const capped = await module.sheets.runSql(
      viewer,
      projectId,
      dataset.id,
      'select * from dataset, (select 1 as i) s',
    );
    expect(capped.truncated).toBe(false);
    const big = await module.sheets.runSql(
      viewer,
      projectId,
      dataset.id,
      'select 1 as x from dataset a, dataset b, dataset c, dataset d, dataset e, dataset f, dataset g',
    );
    expect(big.rows).toHaveLength(1_000);
    expect(big.truncated).toBe(true);
    await expect(
      module.sheets.runSql(
        viewer,
        projectId,
        dataset.id,
        'with recursive r(i) as (select 1 union all select i + 1 from r) select count(*) from r',
      ),
    ).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('gives every plugged-in extension its say: readers of a column, a forced delete, a dataset copy', async () => {
    const own = sheetsOn(platform);
    const calls: string[] = [];
    const extension = (label: string): SheetExtension => ({
      kinds: [],
      readersOf: async () => [{ id: uuidv7(), name: `${label} reader` }],
      removeInput: async (_change, remove) => {
        calls.push(`${label} before`);
        await remove();
        calls.push(`${label} after`);
      },
      copyDataset: async () => async () => {
        calls.push(`${label} copied`);
      },
      copyColumn: async () => undefined,
    });
    own.sheets.extend(extension('A'));
    own.sheets.extend(extension('B'));
    const dataset = await own.sheets.createDataset(editor, projectId, {
      name: 'Extended',
      rows: 1,
      columns: [{ name: 'Name', type: 'text' }],
    });
    const name = dataset.columns[0]!;
    await expect(
      own.sheets.deleteColumn(editor, projectId, dataset.id, name.id),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('A reader, B reader'),
    });
    await own.sheets.duplicateDataset(editor, projectId, dataset.id);
    expect(calls).toEqual(['A copied', 'B copied']);
    calls.length = 0;
    await own.sheets.deleteColumn(editor, projectId, dataset.id, name.id, { force: true });
    // The first extension wraps the second, which wraps the removal.
    expect(calls).toEqual(['A before', 'B before', 'B after', 'A after']);
    expect((await own.sheets.getDataset(editor, projectId, dataset.id)).columns).toEqual([]);
  });
});
