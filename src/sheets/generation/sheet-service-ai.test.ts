import { describe, expect, it } from 'vitest';
import type { Actor } from '../../access/actor.ts';
import { openSheetsTestEnvForFile, type sheetsOn } from '../sheet-test-helpers.ts';

// The two operations the sheets service gained for AI columns (issue 6).
describe('sheet service: AI column hooks', () => {
  let sheets: ReturnType<typeof sheetsOn>;
  let actor: Actor;
  let projectId: string;
  openSheetsTestEnvForFile((env) => {
    ({ module: sheets, editor: actor, projectId } = env);
  });

  it('adds an AI column with its process write in the same transaction, and rolls both back on failure', async () => {
    const dataset = await sheets.sheets.createDataset(actor, projectId, {
      name: 'D',
      rows: 2,
      columns: [{ name: 'A' }],
    });
    const column = await sheets.sheets.addColumn(
      actor,
      projectId,
      dataset.id,
      { name: 'AI' },
      { ai: async () => {} },
    );
    expect(column.kind).toBe('ai');
    await expect(
      sheets.sheets.addColumn(
        actor,
        projectId,
        dataset.id,
        { name: 'Broken' },
        {
          ai: async () => {
            throw new Error('process write failed');
          },
        },
      ),
    ).rejects.toThrow('process write failed');
    const after = await sheets.sheets.getDataset(actor, projectId, dataset.id);
    expect(after.columns.map((c) => c.name)).toEqual(['A', 'AI']);
    // The DuckDB column was dropped too: a new column of that name can be added.
    const again = await sheets.sheets.addColumn(actor, projectId, dataset.id, { name: 'Broken' });
    expect(again.kind).toBe('static');
  });

  it('reads the cells of listed rows, leaving out rows that do not exist', async () => {
    const dataset = await sheets.sheets.createDataset(actor, projectId, {
      name: 'R',
      columns: [{ name: 'A' }],
    });
    const { rowIds } = await sheets.sheets.appendRows(actor, projectId, dataset.id, [
      { [dataset.columns[0]!.id]: 'x' },
      { [dataset.columns[0]!.id]: 'y' },
    ]);
    const cells = await sheets.sheets.readCells(
      actor,
      projectId,
      dataset.id,
      [dataset.columns[0]!.id],
      [BigInt(rowIds[1]!), 999_999n],
    );
    expect([...cells.keys()]).toEqual([rowIds[1]]);
    expect(cells.get(rowIds[1]!)?.[dataset.columns[0]!.id]).toMatchObject({
      value: 'y',
      status: 'done',
      version: 0,
    });
  });

  it('opens a cell writer that checks metadata when opened and again after recheckMs', async () => {
    const dataset = await sheets.sheets.createDataset(actor, projectId, {
      name: 'W',
      rows: 1,
      columns: [{ name: 'A' }],
    });
    const columnId = dataset.columns[0]!.id;
    const write = await sheets.sheets.openCellWriter(actor, projectId, dataset.id, columnId, {
      recheckMs: 0,
    });
    const first = await write([{ rowId: 1n, expectedVersion: 0, value: 'one' }]);
    expect(first.applied).toHaveLength(1);
    const stale = await write([{ rowId: 1n, expectedVersion: 0, value: 'late' }]);
    expect(stale).toMatchObject({ applied: [], conflicts: [{ rowId: '1' }] });
    await sheets.sheets.deleteDataset(actor, projectId, dataset.id);
    await expect(write([{ rowId: 1n, expectedVersion: 1, value: 'gone' }])).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
