import { expect, it } from 'vitest';
import type { Actor } from '../access/actor.ts';
import type { CellsChange, SheetExtension } from './sheet-service.ts';
import { openSheetsTestEnvForFile, peopleWithLabel, type sheetsOn } from './sheet-test-helpers.ts';

// `SheetExtension.cellsChanged`: every compare-and-set of cells runs inside each extension's
// hook (the first outermost), told which columns (formulas that read them included) and rows
// may change, so an extension can record what must survive a crash before the write commits.
let module: ReturnType<typeof sheetsOn>;
let editor: Actor;
let projectId: string;
const calls: string[] = [];
const changes: CellsChange[] = [];
/** The Name cell of row 1 as each hook saw it before and after the write. */
const seen: unknown[] = [];

openSheetsTestEnvForFile((env) => {
  ({ module, editor, projectId } = env);
  const nameOfRowOne = async (change: CellsChange) => {
    const dataset = await module.sheets.getDataset(editor, projectId, change.datasetId);
    const name = dataset.columns.find((column) => column.name === 'Name')!;
    const cells = await module.sheets.readCells(
      editor,
      projectId,
      change.datasetId,
      [name.id],
      [1n],
    );
    return cells.get('1')?.[name.id]?.value;
  };
  const extension = (label: string): SheetExtension => ({
    kinds: [],
    readersOf: async () => [],
    removeInput: async (_change, remove) => remove(),
    copyDataset: async () => undefined,
    copyColumn: async () => undefined,
    async cellsChanged(change, commit) {
      calls.push(`${label} before`);
      if (label === 'A') {
        changes.push(change);
        seen.push(await nameOfRowOne(change));
      }
      try {
        await commit();
        calls.push(`${label} after`);
        if (label === 'A') seen.push(await nameOfRowOne(change));
      } catch (error) {
        calls.push(`${label} failed`);
        throw error;
      }
    },
  });
  module.sheets.extend(extension('A'));
  module.sheets.extend(extension('B'));
});

const reset = () => {
  calls.length = 0;
  changes.length = 0;
  seen.length = 0;
};

async function people() {
  const { dataset, name, age, label } = await peopleWithLabel(module, editor, projectId);
  reset();
  return { dataset, name: name.id, age: age.id, label: label.id };
}

it('wraps an edit: the first extension outermost, told the column, its formulas and the row', async () => {
  const { dataset, name, label } = await people();
  await module.sheets.editCell(editor, projectId, dataset.id, {
    rowId: 1n,
    columnId: name,
    expectedVersion: 0,
    value: 'Ada',
  });
  expect(calls).toEqual(['A before', 'B before', 'B after', 'A after']);
  expect(changes).toEqual([
    { projectId, datasetId: dataset.id, columnIds: [name, label], rowIds: ['1'] },
  ]);
  // Before: not written yet; after: committed.
  expect(seen).toEqual([null, 'Ada']);
});

it('a validation alone changes no value and calls no hook; a lost compare-and-set reaches the hooks as a failure', async () => {
  const { dataset, name } = await people();
  await module.sheets.editCell(editor, projectId, dataset.id, {
    rowId: 2n,
    columnId: name,
    expectedVersion: 0,
    validated: true,
  });
  expect(calls).toEqual([]);
  await expect(
    module.sheets.editCell(editor, projectId, dataset.id, {
      rowId: 2n,
      columnId: name,
      expectedVersion: 0,
      value: 'late',
    }),
  ).rejects.toMatchObject({ code: 'CONFLICT' });
  expect(calls).toEqual(['A before', 'B before', 'B failed', 'A failed']);
});

it('wraps a paste (every column written, rows once) and an engine write', async () => {
  const { dataset, name, age, label } = await people();
  await module.sheets.editCells(editor, projectId, dataset.id, [
    { rowId: '1', columnId: name, value: 'Ada' },
    { rowId: '1', columnId: age, value: 36 },
    { rowId: '3', columnId: age, value: 41 },
  ]);
  expect(changes).toEqual([
    {
      projectId,
      datasetId: dataset.id,
      columnIds: [name, age, label],
      rowIds: ['1', '3'],
    },
  ]);
  reset();
  await module.sheets.writeCells(editor, projectId, dataset.id, age, [
    { rowId: 2n, expectedVersion: 0, value: 7, state: { status: 'done' } },
  ]);
  expect(calls).toEqual(['A before', 'B before', 'B after', 'A after']);
  expect(changes[0]).toMatchObject({ columnIds: [age], rowIds: ['2'] });
});
