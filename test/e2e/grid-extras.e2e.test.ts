import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
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

const LONG_NOTE = `${'A long note that keeps going '.repeat(12)}and ends here.`;

/**
 * Issue 14 item 19, the grid extras: the selection footer (count, sum, average), a filter icon
 * on filtered columns and highlighted search matches, the columns panel with "Show all", row
 * height (compact / comfortable / wrapped) with virtualization intact, the record view, and
 * the active cell's buttons kept clear of its value.
 */
describe('grid extras', () => {
  let server: E2eServer;
  let browser: Browser;
  let tab: TestPage;
  const csv = path.join(os.tmpdir(), `braincells-e2e-extras-${process.pid}.csv`);

  beforeAll(async () => {
    writeFileSync(
      csv,
      [
        'name,age,notes',
        ...Array.from(
          { length: 200 },
          (_, index) =>
            `Person ${index + 1},${index + 20},"${index === 0 ? LONG_NOTE : `note ${index + 1}`}"`,
        ),
      ].join('\n'),
    );
    [server, browser] = await Promise.all([startE2eServer(), launchBrowser()]);
    tab = await openPage(browser);
    await setUpInstance(tab.page, server.url, 'Extras project');
    await importFile(tab.page, csv);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const footer = () => tab.page.getByTestId('selection-stats');

  it('shows count, sum and average of the selected numbers, and a count for text', async () => {
    const { page } = tab;
    await gridCell(page, 1, 2).click();
    expect(await footer().textContent()).toBe('');
    for (let step = 0; step < 3; step++) await page.keyboard.press('Shift+ArrowDown');
    // Ages 20, 21, 22, 23.
    await expect.poll(() => footer().textContent()).toBe('Count 4 · Sum 86 · Average 21.5');
    await screenshot(page, 'extras-01-footer');
    // Widen to the names: text is counted, never summed.
    await page.keyboard.press('Shift+ArrowLeft');
    await expect.poll(() => footer().textContent()).toBe('Count 8 · Sum 86 · Average 21.5');
    await gridCell(page, 1, 1).click();
    await page.keyboard.press('Shift+ArrowDown');
    await expect.poll(() => footer().textContent()).toBe('Count 2');
    // A live edit inside the range moves the figures.
    await gridCell(page, 1, 2).click();
    await page.keyboard.press('Shift+ArrowDown');
    await expect.poll(() => footer().textContent()).toBe('Count 2 · Sum 41 · Average 20.5');
    await gridCell(page, 2, 2).dblclick();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('31');
    await page.keyboard.press('Enter');
    await gridCell(page, 1, 2).click();
    await page.keyboard.press('Shift+ArrowDown');
    await expect.poll(() => footer().textContent()).toBe('Count 2 · Sum 51 · Average 25.5');
  });

  it('marks a filtered column in its header and highlights search matches', async () => {
    const { page } = tab;
    const header = page.getByRole('columnheader', { name: /notes/ });
    await expect.poll(() => header.getByRole('img', { name: 'Filtered' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Column notes menu' }).click();
    await page.getByRole('menuitem', { name: 'Filter…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Filter notes' });
    await dialog.getByLabel('Value').fill('note 1');
    await dialog.getByRole('button', { name: 'Apply filter' }).click();
    await expect.poll(() => page.getByTestId('row-count').textContent()).toContain('110 matching');
    await expect.poll(() => header.getByRole('img', { name: 'Filtered' }).count()).toBe(1);
    // Only the filtered column has the icon.
    expect(await page.getByRole('img', { name: 'Filtered' }).count()).toBe(1);

    await page.getByRole('searchbox', { name: 'Search rows' }).fill('person 12');
    await expect.poll(() => page.getByTestId('row-count').textContent()).toContain('11 matching');
    await expect.poll(() => cellText(page, 1, 1)).toBe('Person 12');
    // The match is marked whatever its case, the rest of the text is plain.
    expect(await gridCell(page, 1, 1).locator('mark.search-match').allTextContents()).toEqual([
      'Person 12',
    ]);
    expect(await gridCell(page, 1, 3).locator('mark').count()).toBe(0);
    await screenshot(page, 'extras-02-filter-search');

    await page.getByRole('searchbox', { name: 'Search rows' }).fill('');
    await page.getByRole('button', { name: /Remove filter/ }).click();
    await expect.poll(() => page.getByTestId('row-count').textContent()).toContain('200 rows');
    await expect.poll(() => page.getByRole('img', { name: 'Filtered' }).count()).toBe(0);
    await expect.poll(() => page.locator('mark.search-match').count()).toBe(0);
  });
});
