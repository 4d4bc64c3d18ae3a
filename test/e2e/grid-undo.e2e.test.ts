import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  browserSuite,
  cellText,
  gridCell,
  importFile,
  pasteText,
  screenshot,
} from './e2e-harness.ts';

interface ApiRow {
  rowId: string;
  cells: Record<string, { value: unknown; version: number; validated: boolean }>;
}

/**
 * Issue 14 item 1: Escape in the cell editor never saves (F2, double-click, type-to-edit),
 * and Ctrl+Z / the Undo toast walk back cell edits, paste, clear and row deletes through the
 * normal compare-and-set edit (a cell changed since is reported, not overwritten).
 */
describe('cell editing: Escape cancels, undo restores', () => {
  const e2e = browserSuite({ project: 'Undo project' });
  let datasetId: string;
  const csv = path.join(os.tmpdir(), `braincells-e2e-undo-${process.pid}.csv`);

  beforeAll(async () => {
    writeFileSync(
      csv,
      [
        'name,age',
        ...Array.from({ length: 30 }, (_, index) => `Person ${index + 1},${index + 20}`),
      ].join('\n'),
    );
    datasetId = await importFile(e2e.page, csv);
  });

  const api = async (method: string, url: string, body?: unknown) => {
    const response = await e2e.send(method, url, body);
    return { status: response.status(), body: (await response.json()) as unknown };
  };

  /** The server's row at a 0-based position (display order). */
  const serverRow = async (offset: number): Promise<ApiRow> => {
    const window = await api(
      'POST',
      `/api/projects/${e2e.projectId}/datasets/${datasetId}/rows/query`,
      {
        offset,
        limit: 1,
      },
    );
    return (window.body as { rows: ApiRow[] }).rows[0]!;
  };
  const nameOf = (row: ApiRow) => Object.values(row.cells)[0]!;

  /** Cell-writing requests the page sends while `action` runs. */
  const writesDuring = async (action: () => Promise<void>) => {
    const writes: string[] = [];
    const record = (request: { method(): string; url(): string }) => {
      if (request.method() === 'PATCH') writes.push(new URL(request.url()).pathname);
    };
    e2e.page.on('request', record);
    try {
      await action();
    } finally {
      e2e.page.off('request', record);
    }
    return writes;
  };

  it('Escape cancels an edit opened by F2, double-click or typing, and saves nothing', async () => {
    const { page } = e2e;
    const before = nameOf(await serverRow(0));
    const editor = page.getByLabel('Cell value');
    const writes = await writesDuring(async () => {
      // F2
      await gridCell(page, 1, 1).click();
      await page.keyboard.press('F2');
      await editor.waitFor();
      await page.keyboard.type('x');
      await page.keyboard.press('Escape');
      await editor.waitFor({ state: 'detached' });
      // Double-click
      await gridCell(page, 1, 1).dblclick();
      await editor.waitFor();
      await page.keyboard.type('y');
      await page.keyboard.press('Escape');
      await editor.waitFor({ state: 'detached' });
      // Type to edit
      await gridCell(page, 1, 1).click();
      await page.keyboard.type('z');
      await editor.waitFor();
      expect(await editor.inputValue()).toBe('z');
      await page.keyboard.press('Escape');
      await editor.waitFor({ state: 'detached' });
      // The grid has the focus back, and moving on saves nothing either.
      await page.keyboard.press('ArrowDown');
    });
    expect(writes).toEqual([]);
    expect(await cellText(page, 1, 1)).toBe('Person 1');
    const after = nameOf(await serverRow(0));
    expect(after).toMatchObject({ value: 'Person 1', version: before.version, validated: false });
  });

  it('Ctrl+Z undoes a cell edit, validated mark included', async () => {
    const { page } = e2e;
    await gridCell(page, 2, 1).dblclick();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('Edited two');
    await page.keyboard.press('Enter');
    await expect.poll(() => cellText(page, 2, 1)).toBe('Edited two');
    expect(nameOf(await serverRow(1))).toMatchObject({ value: 'Edited two', validated: true });
    await page.keyboard.press('ControlOrMeta+z');
    await expect.poll(() => cellText(page, 2, 1)).toBe('Person 2');
    expect(nameOf(await serverRow(1))).toMatchObject({ value: 'Person 2', validated: false });
    // Nothing left: a second Ctrl+Z says so rather than undoing something else.
    await page.keyboard.press('ControlOrMeta+z');
    await page.getByText('Nothing to undo.').waitFor();
  });

  it('the Undo toast undoes the latest edit', async () => {
    const { page } = e2e;
    await gridCell(page, 3, 2).dblclick();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('99');
    await page.keyboard.press('Enter');
    await expect.poll(() => cellText(page, 3, 2)).toBe('99');
    const toast = page.locator('.notice').filter({ hasText: 'Saved row 3, age' });
    await screenshot(page, 'undo-01-toast');
    await toast.getByRole('button', { name: 'Undo' }).click();
    await expect.poll(() => cellText(page, 3, 2)).toBe('22');
  });

  it('undoes a paste and a clear', async () => {
    const { page } = e2e;
    const grid = page.getByRole('grid');
    await gridCell(page, 5, 1).click();
    await pasteText(grid, 'Pasted five\nPasted six');
    await expect.poll(() => cellText(page, 6, 1)).toBe('Pasted six');
    await page.keyboard.press('ControlOrMeta+z');
    await expect.poll(() => cellText(page, 5, 1)).toBe('Person 5');
    await expect.poll(() => cellText(page, 6, 1)).toBe('Person 6');

    await gridCell(page, 7, 1).click();
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Shift+ArrowRight');
    await page.keyboard.press('Delete');
    await expect.poll(() => cellText(page, 8, 2)).toBe('');
    await page.keyboard.press('ControlOrMeta+z');
    await expect.poll(() => cellText(page, 7, 1)).toBe('Person 7');
    await expect.poll(() => cellText(page, 8, 2)).toBe('27');
  });

  it('does not overwrite a cell someone changed since the edit, and says so', async () => {
    const { page } = e2e;
    await gridCell(page, 10, 1).dblclick();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('Mine');
    await page.keyboard.press('Enter');
    await expect.poll(() => cellText(page, 10, 1)).toBe('Mine');
    const row = await serverRow(9);
    const [columnId, cell] = Object.entries(row.cells)[0]!;
    const theirs = await api(
      'PATCH',
      `/api/projects/${e2e.projectId}/datasets/${datasetId}/cells`,
      {
        rowId: row.rowId,
        columnId,
        expectedVersion: cell.version,
        value: 'Theirs',
      },
    );
    expect(theirs.status).toBe(200);
    await page.getByRole('grid').focus();
    await page.keyboard.press('ControlOrMeta+z');
    await page
      .getByRole('alert')
      .filter({ hasText: 'row 10 was changed since and keeps its newer value' })
      .waitFor();
    await expect.poll(() => cellText(page, 10, 1)).toBe('Theirs');
    expect(nameOf(await serverRow(9)).value).toBe('Theirs');
  });

  it('undoes a row delete by re-creating the row’s values at the end', async () => {
    const { page } = e2e;
    await gridCell(page, 12, 1).click();
    await page.getByRole('button', { name: 'Delete row' }).click();
    const confirm = page.getByTestId('confirm-dialog');
    await confirm.waitFor();
    await screenshot(page, 'undo-02-confirm-delete');
    await confirm.getByRole('button', { name: 'Delete 1 row' }).click();
    await expect.poll(() => page.getByTestId('row-count').textContent()).toContain('29 rows');
    // The count changes first; the refreshed rows follow (old rows stay on screen meanwhile).
    await expect.poll(() => cellText(page, 12, 1)).toBe('Person 13');
    await page.keyboard.press('ControlOrMeta+z');
    await expect.poll(() => page.getByTestId('row-count').textContent()).toContain('30 rows');
    const last = await serverRow(29);
    expect(Object.values(last.cells).map((cell) => cell.value)).toEqual(['Person 12', 31]);
  });

  it('a cell clicked while a save is on its way keeps the selection, and the grid keys work', async () => {
    const { page } = e2e;
    // Hold the cell save until the user has clicked elsewhere and pressed a key.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let seen!: () => void;
    const saveSent = new Promise<void>((resolve) => {
      seen = resolve;
    });
    const cellSaves = `**/api/projects/${e2e.projectId}/datasets/${datasetId}/cells`;
    await page.route(cellSaves, async (route) => {
      seen();
      await held;
      await route.fallback();
    });
    try {
      await gridCell(page, 5, 2).dblclick();
      await page.keyboard.press('ControlOrMeta+a');
      await page.keyboard.type('99');
      await page.keyboard.press('Enter');
      await saveSent;
      await gridCell(page, 1, 2).click();
      await page.keyboard.press('Shift+ArrowDown');
      release();
      await expect.poll(() => cellText(page, 5, 2)).toBe('99');
      await page.getByLabel('Cell value').waitFor({ state: 'detached' });
    } finally {
      await page.unroute(cellSaves);
    }
    // The save's "move down" did not undo the click: rows 1–2 of the age column stay selected.
    const selected = page.locator('[role=gridcell][aria-selected=true]');
    await expect.poll(() => selected.count()).toBe(2);
    expect(await gridCell(page, 1, 2).getAttribute('aria-selected')).toBe('true');
    expect(await gridCell(page, 2, 2).getAttribute('aria-selected')).toBe('true');
    expect(Object.values((await serverRow(4)).cells)[1]).toMatchObject({ value: 99 });
  });
});
