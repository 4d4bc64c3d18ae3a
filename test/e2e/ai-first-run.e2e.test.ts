import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, cellText, gridCell, importFile, screenshot } from './e2e-harness.ts';

const ROWS = 8;

/**
 * Issue 14 items 17–18: the first AI run is obvious. Creating a column generates its first
 * rows at once and shows the column beside the panel; cells no run will reach say "Not
 * generated" (▶ generates one); one Run button with its estimate sits at the top of the panel;
 * the model picker is searchable, hides models that cannot chat and preselects one; a
 * disabled button says why.
 */
describe('the first AI run', () => {
  const e2e = browserSuite({
    fakeLlm: { record: false },
    project: 'First run',
    providerKey: 'sk-fake-e2e-key',
  });
  const csv = path.join(os.tmpdir(), `braincells-e2e-first-run-${process.pid}.csv`);

  beforeAll(async () => {
    writeFileSync(
      csv,
      ['Review', ...Array.from({ length: ROWS }, (_, index) => `Review ${index + 1}`)].join('\n'),
    );
    await importFile(e2e.page, csv);
  });

  it('says why Create is disabled, and picks a chat model by itself', async () => {
    const { page } = e2e;
    await page.getByRole('button', { name: '✦ AI column' }).click();
    const panel = page.getByRole('region', { name: 'New AI column' });
    const create = panel.getByRole('button', { name: /^Create column/ });
    expect(await create.isDisabled()).toBe(true);
    expect(await panel.getByTestId('save-blocker').textContent()).toBe('Name the column first.');
    await panel.getByRole('textbox', { name: 'Column name' }).fill('Summary');
    expect(await panel.getByTestId('save-blocker').textContent()).toBe('Write a prompt first.');
    await panel.getByRole('combobox', { name: 'Prompt' }).fill('Summarize {{Review}}');

    // A small chat model is preselected; models that cannot chat are hidden until asked for.
    const model = panel.getByLabel('Model', { exact: true });
    await expect.poll(() => model.inputValue(), { timeout: 15_000 }).toMatch(/\|gpt-4o-mini$/);
    expect(await panel.getByTestId('save-blocker').count()).toBe(0);
    const embedding = model.locator('option', { hasText: 'text-embedding-3-small' });
    expect(await embedding.count()).toBe(0);
    await panel.getByLabel(/^Show all/).check();
    expect(await embedding.count()).toBe(1);
    await panel.getByLabel(/^Show all/).uncheck();
    // The search narrows the list (the chosen model stays).
    await panel.getByRole('searchbox', { name: 'Search models' }).fill('claude');
    const options = await model.locator('optgroup option').allTextContents();
    expect(options.length).toBeGreaterThan(1);
    for (const option of options) expect(option).toMatch(/^(claude|gpt-4o-mini )/);
    await panel.getByRole('searchbox', { name: 'Search models' }).fill('');
    await screenshot(page, 'first-run-01-panel');
  });

  it('generates the first rows on create and shows the new column beside the panel', async () => {
    const { page } = e2e;
    const panel = page.getByRole('region', { name: 'New AI column' });
    await panel.getByRole('button', { name: /^Create column/ }).click();
    const edit = page.getByRole('region', { name: 'AI column Summary' });
    await edit.waitFor();
    for (let row = 1; row <= 5; row++)
      await expect
        .poll(() => cellText(page, row, 2), { timeout: 30_000 })
        .toMatch(new RegExp(`^echo: Summarize Review ${row}(?!\\d)`));
    // Rows no run will reach say so instead of "Pending" forever.
    await expect.poll(() => cellText(page, 6, 2)).toBe('Not generated');
    // The new column is on screen, left of the panel.
    const header = page.getByRole('columnheader', { name: /Summary/ });
    const headerBox = (await header.boundingBox())!;
    const panelBox = (await edit.boundingBox())!;
    expect(headerBox.x).toBeGreaterThanOrEqual(0);
    expect(headerBox.x + Math.min(headerBox.width, 60)).toBeLessThanOrEqual(panelBox.x);
    await screenshot(page, 'first-run-02-created');
  });

  it('generates one cell with ▶, then runs the rest from the top of the panel', async () => {
    const { page } = e2e;
    await gridCell(page, 6, 2).click();
    await page.getByRole('button', { name: 'Generate this cell' }).click();
    await expect
      .poll(() => cellText(page, 6, 2), { timeout: 30_000 })
      .toMatch(/^echo: Summarize Review 6(?!\d)/);

    const edit = page.getByRole('region', { name: 'AI column Summary' });
    // One Run button, at the top, for the cells not up to date, with its estimate.
    const run = edit.getByRole('button', { name: /^Run \d+ cells$/ });
    await expect.poll(() => run.textContent(), { timeout: 15_000 }).toBe('Run 2 cells');
    expect(await edit.getByTestId('run-estimate').textContent()).toContain('2 cells');
    const runBox = (await run.boundingBox())!;
    const promptBox = (await edit.getByRole('combobox', { name: 'Prompt' }).boundingBox())!;
    expect(runBox.y).toBeLessThan(promptBox.y);
    await run.click();
    await expect
      .poll(() => cellText(page, ROWS, 2), { timeout: 30_000 })
      .toMatch(new RegExp(`^echo: Summarize Review ${ROWS}(?!\\d)`));
    // Nothing left: the button says why it is disabled.
    await expect
      .poll(() => edit.getByTestId('run-blocker').textContent(), { timeout: 15_000 })
      .toBe('Nothing to generate: every cell is up to date.');
    expect(await edit.getByRole('button', { name: /^Run/ }).isDisabled()).toBe(true);
    await screenshot(page, 'first-run-03-done');
  });

  it('opens Settings on the Prices tab from a link', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/settings?tab=prices`);
    await expect
      .poll(() => page.getByRole('tab', { name: 'Prices' }).getAttribute('aria-selected'))
      .toBe('true');
    expect(e2e.errors.filter((error) => !/40[01]/.test(error))).toEqual([]);
  });
});
