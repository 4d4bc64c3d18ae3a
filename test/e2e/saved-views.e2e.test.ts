import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, cellText, importFile, screenshot } from './e2e-harness.ts';

/**
 * Issue 14 item 19, saved views: the grid's search, sort and hidden columns saved under a
 * name, shared by the project, applied from the toolbar (hidden columns for this grid only),
 * updated when modified, and still there after a reload.
 */
describe('saved views', () => {
  const e2e = browserSuite({ project: 'Views project' });
  const csv = path.join(os.tmpdir(), `braincells-e2e-views-${process.pid}.csv`);

  beforeAll(async () => {
    writeFileSync(
      csv,
      [
        'name,age,notes',
        ...Array.from({ length: 200 }, (_, index) => `Person ${index + 1},${index + 20},n${index}`),
      ].join('\n'),
    );
    await importFile(e2e.page, csv);
  });

  const headers = () => e2e.page.locator('[role=columnheader] .header-name').allTextContents();
  const rowCount = () => e2e.page.getByTestId('row-count').textContent();
  const viewsMenu = async (item: RegExp) => {
    await e2e.page.getByRole('button', { name: /^View/ }).click();
    await e2e.page.getByRole('menuitem', { name: item }).click();
  };

  it('saves the search and hidden columns as a view, switches back to all rows, and reapplies it after a reload', async () => {
    const { page } = e2e;
    await page.getByRole('searchbox', { name: 'Search rows' }).fill('person 1');
    // "Person 1", 10–19 and 100–199.
    await expect.poll(rowCount).toContain('111 matching');
    await viewsMenu(/^Columns/);
    const panel = page.getByRole('dialog', { name: 'Columns' });
    await panel.getByLabel('notes').click();
    await panel.getByRole('button', { name: 'Done' }).click();
    await expect.poll(headers).toEqual(['name', 'age']);

    await viewsMenu(/^Save as new view/);
    const dialog = page.getByRole('dialog', { name: 'Save view' });
    await dialog.getByLabel('Name').fill('Ones');
    await dialog.getByRole('button', { name: 'Save view' }).click();
    await expect
      .poll(() => page.getByRole('button', { name: /^View/ }).getAttribute('aria-label'))
      .toBe('View: Ones');
    await screenshot(page, 'views-01-saved');

    await viewsMenu(/^All rows/);
    await expect.poll(rowCount).toContain('200 rows');
    expect(await page.getByRole('searchbox', { name: 'Search rows' }).inputValue()).toBe('');
    // Without a view, hiding is the dataset's own (it was hidden then): show it again there.
    await expect.poll(headers).toEqual(['name', 'age']);
    await page.getByRole('button', { name: '1 hidden ▾' }).click();
    await page.getByRole('menuitem', { name: 'Show notes' }).click();
    await expect.poll(headers).toEqual(['name', 'age', 'notes']);

    await page.reload();
    await expect.poll(headers).toEqual(['name', 'age', 'notes']);
    // The view hides its columns in this grid, without touching the dataset's.
    await viewsMenu(/^Ones/);
    await expect.poll(rowCount).toContain('111 matching');
    await expect.poll(headers).toEqual(['name', 'age']);
    expect(await page.getByRole('searchbox', { name: 'Search rows' }).inputValue()).toBe(
      'person 1',
    );
    expect(await cellText(page, 1, 1)).toBe('Person 1');
  });

  it('marks a modified view and updates it', async () => {
    const { page } = e2e;
    await page.getByRole('searchbox', { name: 'Search rows' }).fill('person 19');
    await expect.poll(rowCount).toContain('11 matching');
    await expect
      .poll(() => page.getByRole('button', { name: /^View/ }).getAttribute('aria-label'))
      .toBe('View: Ones (modified)');
    await viewsMenu(/^Update “Ones”/);
    await expect
      .poll(() => page.getByRole('button', { name: /^View/ }).getAttribute('aria-label'))
      .toBe('View: Ones');
    await viewsMenu(/^All rows/);
    await expect.poll(rowCount).toContain('200 rows');
    await expect.poll(headers).toEqual(['name', 'age', 'notes']);
    await viewsMenu(/^Ones/);
    await expect.poll(rowCount).toContain('11 matching');
    await expect.poll(headers).toEqual(['name', 'age']);
  });
});
