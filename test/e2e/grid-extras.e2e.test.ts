import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, cellText, gridCell, importFile, screenshot } from './e2e-harness.ts';

const LONG_NOTE = `${'A long note that keeps going '.repeat(12)}and ends here.`;

/**
 * Issue 14 item 19, the grid extras: the selection footer (count, sum, average), a filter icon
 * on filtered columns and highlighted search matches, the columns panel with "Show all", row
 * height (compact / comfortable / wrapped) with virtualization intact, the record view, and
 * the active cell's buttons kept clear of its value.
 */
describe('grid extras', () => {
  const e2e = browserSuite({ project: 'Extras project' });
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
    await importFile(e2e.page, csv);
  });

  const footer = () => e2e.page.getByTestId('selection-stats');

  it('shows count, sum and average of the selected numbers, and a count for text', async () => {
    const { page } = e2e;
    await gridCell(page, 1, 2).click();
    expect(await footer().textContent()).toBe('');
    for (let step = 0; step < 3; step++) await page.keyboard.press('Shift+ArrowDown');
    // Ages 20, 21, 22, 23.
    await expect.poll(() => footer().textContent()).toBe('Count 4 · Sum 86 · Average 21.5');
    await screenshot(page, 'extras-01-footer');
    // The footer sits below the grid, not over it.
    const [gridBottom, footerTop] = await Promise.all([
      page.getByRole('grid').evaluate((element) => element.getBoundingClientRect().bottom),
      footer().evaluate((element) => element.getBoundingClientRect().top),
    ]);
    expect(footerTop).toBeGreaterThanOrEqual(gridBottom);
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
    const { page } = e2e;
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

  const viewMenu = async (item: RegExp) => {
    await e2e.page.getByRole('button', { name: 'View ▾' }).click();
    await e2e.page.getByRole('menuitem', { name: item }).click();
  };
  const headers = () => e2e.page.locator('[role=columnheader] .header-name').allTextContents();

  it('lists every column in the columns panel, hides and shows them, and shows all', async () => {
    const { page } = e2e;
    await viewMenu(/^Columns/);
    const panel = page.getByRole('dialog', { name: 'Columns' });
    await panel.getByLabel('age').click();
    await expect.poll(headers).toEqual(['name', 'notes']);
    await panel.getByLabel('notes').click();
    await expect.poll(headers).toEqual(['name']);
    // Hidden columns stay listed, unticked.
    expect(await panel.getByRole('checkbox').count()).toBe(3);
    expect(await panel.getByLabel('age').isChecked()).toBe(false);
    await screenshot(page, 'extras-03-columns-panel');
    await panel.getByRole('button', { name: 'Show all' }).click();
    await expect.poll(headers).toEqual(['name', 'age', 'notes']);
    await expect.poll(() => panel.getByLabel('notes').isChecked()).toBe(true);
    await expect
      .poll(() => panel.getByRole('button', { name: 'Show all' }).isDisabled())
      .toBe(true);
    await panel.getByRole('button', { name: 'Done' }).click();
  });

  it('switches row height (compact, wrapped, comfortable) and keeps the grid virtualized', async () => {
    const { page } = e2e;
    const height = (row: number) =>
      page
        .locator(`[role=grid] [role=row][aria-rowindex="${row + 1}"]`)
        .evaluate((element) => element.getBoundingClientRect().height);
    const rendered = () => page.locator('[role=grid] [role=row][data-row]').count();
    expect(await height(1)).toBe(34);
    await viewMenu(/^Compact rows/);
    await expect.poll(() => height(1)).toBe(26);
    await viewMenu(/^Wrapped rows/);
    await expect.poll(() => height(1)).toBe(96);
    // The long note wraps onto several lines inside its row.
    const lines = await gridCell(page, 1, 3).evaluate((element) => {
      const range = document.createRange();
      range.selectNodeContents(element);
      return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
    });
    expect(lines).toBeGreaterThan(1);
    await screenshot(page, 'extras-04-wrapped');
    // Only the rows on screen (plus overscan) exist, and the last row is reachable.
    expect(await rendered()).toBeLessThan(40);
    await gridCell(page, 1, 1).click();
    await page.keyboard.press('ControlOrMeta+ArrowDown');
    await expect.poll(() => cellText(page, 200, 1)).toBe('Person 200');
    expect(await rendered()).toBeLessThan(40);
    // The choice is kept for this dataset.
    await page.reload();
    await expect.poll(() => height(1)).toBe(96);
    await viewMenu(/^Comfortable rows/);
    await expect.poll(() => height(1)).toBe(34);
  });

  it('opens a row as a form from its row number, and walks to the next row', async () => {
    const { page } = e2e;
    await page.locator('.grid-gutter[data-row="2"]').dblclick();
    const dialog = page.getByRole('dialog', { name: 'Row 3' });
    await dialog.waitFor();
    const fields = () =>
      page
        .getByTestId('record-view')
        .evaluate((element) =>
          [...element.querySelectorAll('dt')].map(
            (term) => `${term.textContent}=${term.nextElementSibling?.textContent}`,
          ),
        );
    expect(await fields()).toEqual(['name=Person 3', 'age=22', 'notes=note 3']);
    await screenshot(page, 'extras-05-record');
    await dialog.getByRole('button', { name: 'Next row →' }).click();
    await page.getByRole('dialog', { name: 'Row 4' }).waitFor();
    expect(await fields()).toEqual(['name=Person 4', 'age=23', 'notes=note 4']);
    await page.keyboard.press('Escape');
    // From the keyboard: the View menu opens the active row.
    await gridCell(page, 1, 3).click();
    await viewMenu(/^Record view/);
    const first = page.getByRole('dialog', { name: 'Row 1' });
    await first.waitFor();
    expect(await first.getByTestId('record-view').textContent()).toContain(LONG_NOTE);
    await page.keyboard.press('Escape');
  });

  it('keeps the active cell’s buttons beside its value, not over it', async () => {
    const { page } = e2e;
    await gridCell(page, 1, 3).click();
    const actions = page.locator('.cell-actions');
    await actions.waitFor();
    const { contentRight, buttonsLeft, buttonsRight, cellRight } = await gridCell(
      page,
      1,
      3,
    ).evaluate((cell) => {
      const rect = cell.getBoundingClientRect();
      const buttons = document.querySelector('.cell-actions')!.getBoundingClientRect();
      return {
        contentRight: rect.right - Number.parseFloat(getComputedStyle(cell).paddingRight),
        buttonsLeft: buttons.left,
        buttonsRight: buttons.right,
        cellRight: rect.right,
      };
    });
    // The value's box (where its text and ellipsis end) stops before the first button.
    expect(contentRight).toBeLessThanOrEqual(buttonsLeft);
    expect(buttonsRight).toBeLessThanOrEqual(cellRight);
    await screenshot(page, 'extras-06-active-cell');
    // Another cell: the room follows the active cell only.
    await gridCell(page, 2, 3).click();
    const padding = (row: number) =>
      gridCell(page, row, 3).evaluate((cell) => getComputedStyle(cell).paddingRight);
    await expect.poll(() => padding(1)).toBe('8px');
    expect(Number.parseFloat(await padding(2))).toBeGreaterThan(40);
  });
});
