import { describe, expect, it } from 'vitest';
import type { Cell, Row } from '../api/sheet-api.ts';
import { cellBefore, MAX_UNDO, pushUndo, rowsToRecreate, type UndoEntry } from './undo.ts';

const cell = (value: Cell['value'], extra: Partial<Cell> = {}): Cell => ({
  value,
  status: 'done',
  version: 1,
  validated: false,
  error: null,
  raw: null,
  model: null,
  inputTokens: null,
  outputTokens: null,
  costNanoUsd: null,
  latencyMs: null,
  attempts: null,
  sources: null,
  updatedAt: null,
  ...extra,
});

const row = (rowId: string, cells: Record<string, Cell>): Row => ({ rowId, ordinal: 1, cells });

describe('undo entries', () => {
  it('remembers the value and validated mark the user saw, and the version our write made', () => {
    const before = cellBefore(row('7', { a: cell('old', { validated: true, version: 3 }) }), 'a', {
      version: 4,
    });
    expect(before).toEqual({
      rowId: '7',
      ordinal: 1,
      columnId: 'a',
      value: 'old',
      validated: true,
      versionAfter: 4,
    });
    // A cell that never existed (empty) is restored as an empty, unvalidated cell.
    expect(cellBefore(row('8', {}), 'a', { version: 1 })).toMatchObject({
      value: null,
      validated: false,
    });
  });

  it('keeps the latest changes only, and nothing for a change that wrote nothing', () => {
    const stack: UndoEntry[] = [];
    pushUndo(stack, { kind: 'cells', label: 'empty', cells: [] });
    expect(stack).toHaveLength(0);
    for (let index = 0; index < MAX_UNDO + 5; index++)
      pushUndo(stack, { kind: 'rows', label: `delete ${index}`, rows: [row(String(index), {})] });
    expect(stack).toHaveLength(MAX_UNDO);
    expect(stack[0]!.label).toBe('delete 5');
    expect(stack.at(-1)!.label).toBe(`delete ${MAX_UNDO + 4}`);
  });

  it('re-creates static values by append, AI values as later edits, and leaves formulas out', () => {
    const columns = [
      { id: 's', kind: 'static' as const },
      { id: 'ai', kind: 'ai' as const },
      { id: 'f', kind: 'formula' as const },
    ];
    const { append, later } = rowsToRecreate(
      [row('1', { s: cell('x'), ai: cell('answer'), f: cell(2) }), row('2', { ai: cell(null) })],
      columns,
    );
    expect(append).toEqual([{ s: 'x' }, { s: null }]);
    expect(later).toEqual([{ index: 0, columnId: 'ai', value: 'answer' }]);
  });
});
