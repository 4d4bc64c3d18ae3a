import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cellText,
  type E2eServer,
  gridCell,
  importFile,
  launchBrowser,
  openPage,
  screenshot,
  setUpInstance,
  startE2eServer,
  type TestPage,
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
  let server: E2eServer;
  let browser: Browser;
  let tab: TestPage;
  let projectId: string;
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
    [server, browser] = await Promise.all([startE2eServer(), launchBrowser()]);
    tab = await openPage(browser);
    projectId = await setUpInstance(tab.page, server.url, 'Undo project');
    datasetId = await importFile(tab.page, csv);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const api = async (method: string, url: string, body?: unknown) => {
    const me = await tab.page.request.get(`${server.url}/api/auth/me`);
    const csrf = ((await me.json()) as { csrfToken: string }).csrfToken;
    const response = await tab.page.request.fetch(`${server.url}${url}`, {
      method,
      headers: {
        'x-csrf-token': csrf,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { data: JSON.stringify(body) }),
    });
    return { status: response.status(), body: (await response.json()) as unknown };
  };

  /** The server's row at a 0-based position (display order). */
  const serverRow = async (offset: number): Promise<ApiRow> => {
    const window = await api(
      'POST',
      `/api/projects/${projectId}/datasets/${datasetId}/rows/query`,
      {
        offset,
        limit: 1,
      },
    );
    return (window.body as { rows: ApiRow[] }).rows[0]!;
  };
  const nameOf = (row: ApiRow) => Object.values(row.cells)[0]!;

  const paste = (grid: Locator, text: string) =>
    grid.evaluate((element, clipboard) => {
      const data = new DataTransfer();
      data.setData('text/plain', clipboard);
      element.dispatchEvent(
        new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }),
      );
    }, text);

  /** Cell-writing requests the page sends while `action` runs. */
  const writesDuring = async (action: () => Promise<void>) => {
    const writes: string[] = [];
    const record = (request: { method(): string; url(): string }) => {
      if (request.method() === 'PATCH') writes.push(new URL(request.url()).pathname);
    };
    tab.page.on('request', record);
    try {
      await action();
    } finally {
      tab.page.off('request', record);
    }
    return writes;
  };

  it('Escape cancels an edit opened by F2, double-click or typing, and saves nothing', async () => {
    const { page } = tab;
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
    const { page } = tab;
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
    const { page } = tab;
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
    const { page } = tab;
    const grid = page.getByRole('grid');
    await gridCell(page, 5, 1).click();
    await paste(grid, 'Pasted five\nPasted six');
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
    const { page } = tab;
    await gridCell(page, 10, 1).dblclick();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('Mine');
    await page.keyboard.press('Enter');
    await expect.poll(() => cellText(page, 10, 1)).toBe('Mine');
    const row = await serverRow(9);
    const [columnId, cell] = Object.entries(row.cells)[0]!;
    const theirs = await api('PATCH', `/api/projects/${projectId}/datasets/${datasetId}/cells`, {
      rowId: row.rowId,
      columnId,
      expectedVersion: cell.version,
      value: 'Theirs',
    });
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
    const { page } = tab;
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
    const { page } = tab;
    // Hold the cell save until the user has clicked elsewhere and pressed a key.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let seen!: () => void;
    const saveSent = new Promise<void>((resolve) => {
      seen = resolve;
    });
    const cellSaves = `**/api/projects/${projectId}/datasets/${datasetId}/cells`;
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
