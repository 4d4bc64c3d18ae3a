import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  browserSuite,
  cellText,
  gridCell,
  importFile,
  screenshot,
  setUpInstance,
} from './e2e-harness.ts';

const ROWS = 12;

/**
 * The AI part of the main journey on the fake LLM: connect a provider in Settings, add an AI
 * column with `{{` autocomplete (its prompt previewed on the first rows), try it on the first rows (every first answer fails here, so
 * they turn into errors and the run says "Finished with 5 errors"), retry the errors from the
 * runs strip, estimate and run the rest, stop a slow run,
 * and export. Cells stream in through the same grid and event stream as everything else.
 */
describe('AI columns', () => {
  const e2e = browserSuite({ fakeLlm: { record: false } });
  const csv = path.join(os.tmpdir(), `braincells-e2e-reviews-${process.pid}.csv`);

  beforeAll(async () => {
    writeFileSync(
      csv,
      [
        'Review',
        ...Array.from(
          { length: ROWS },
          (_, index) => `"Review number ${index + 1}: good, but slow"`,
        ),
      ].join('\n'),
    );
  });

  it('connects the fake LLM as a provider and tests it', async () => {
    const { page } = e2e;
    await setUpInstance(page, e2e.server.url);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('button', { name: 'Add provider' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Fake');
    await dialog.getByLabel('Kind').selectOption('openai');
    await dialog.getByLabel('API key').fill('sk-fake-e2e-key');
    await dialog.getByLabel(/^Base URL/).fill(`${e2e.fake.url}/v1`);
    await dialog.getByRole('button', { name: 'Add provider' }).click();
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.getByText(/^Works/).waitFor({ timeout: 30_000 });
    await screenshot(page, 'ai-01-provider');
  });

  it('adds an AI column, tries it on the first rows, and retries the errors the run reports', async () => {
    const { page } = e2e;
    await page.getByRole('link', { name: 'Datasets' }).click();
    await importFile(page, csv);
    await page.getByRole('button', { name: '✦ AI column' }).click();
    const panel = page.getByRole('region', { name: 'New AI column' });
    await panel.getByRole('textbox', { name: 'Column name' }).fill('Summary');
    const prompt = panel.getByRole('combobox', { name: 'Prompt' });
    await prompt.click();
    await page.keyboard.type('Summarize {{Rev');
    await page.getByRole('option', { name: 'Review' }).waitFor();
    await page.keyboard.press('Enter');
    expect(await prompt.inputValue()).toBe('Summarize {{Review}}');
    // The live preview fills the prompt with the first rows, without calling the model.
    const preview = panel.getByTestId('prompt-preview');
    await expect
      .poll(() => preview.getByRole('listitem').first().textContent(), { timeout: 15_000 })
      .toContain('Summarize Review number 1: good, but slow');
    expect(await preview.getByRole('listitem').count()).toBe(3);
    await screenshot(page, 'ai-01b-prompt-preview');
    // The picker prices each model per million tokens, with its context window (genai-prices).
    const model = panel.getByLabel('Model', { exact: true });
    const label = 'gpt-4o-mini — $0.15 / $0.60 per 1M tokens · 128K context';
    await model.locator('option', { hasText: label }).waitFor({ state: 'attached' });
    await model.selectOption({ label });
    expect(await panel.getByTestId('model-details').textContent()).toContain(
      'Input $0.15, cached input $0.075, output $0.60 per 1M tokens',
    );
    // Every first request for a prompt fails with a 400 (not retried): cells become errors.
    await model.selectOption({ label: 'Another model…' });
    await panel.getByLabel('Model id').fill('gpt-4o-mini@fail-times=1,status=400');
    await panel.getByRole('button', { name: 'Create column' }).click();
    const edit = page.getByRole('region', { name: 'AI column Summary' });
    await edit.waitFor();
    // Creating the column generated the first 5 rows at once (no "Try" click needed).
    await expect
      .poll(() => gridCell(page, 5, 2).getAttribute('class'), { timeout: 30_000 })
      .toContain('cell-error');
    expect(await gridCell(page, 6, 2).getAttribute('class')).not.toContain('cell-error');
    // The run says it finished with errors (not a green "Done"), with the provider's name and
    // its own message, and offers to retry them.
    const strip = page.getByRole('region', { name: 'Generation runs' });
    const finished = strip.getByTestId('run').filter({ hasText: 'Finished with 5 errors' });
    await finished.waitFor({ timeout: 30_000 });
    expect(await finished.textContent()).not.toContain('Done');
    expect(await finished.textContent()).toMatch(/Last error: PROVIDER_ERROR: .*\(Fake 400: .+\)/);
    await screenshot(page, 'ai-02-errors');

    await finished.getByRole('button', { name: 'Retry errors' }).click();
    await expect.poll(() => cellText(page, 1, 2), { timeout: 30_000 }).toMatch(/^echo: /);
    await expect.poll(() => cellText(page, 5, 2), { timeout: 30_000 }).toMatch(/^echo: /);
    expect(await finished.count()).toBe(0);
    await screenshot(page, 'ai-03-regenerated');
  });

  it('estimates the rest, runs it, and shows where a value came from', async () => {
    const { page } = e2e;
    const edit = page.getByRole('region', { name: 'AI column Summary' });
    // The run sits at the top of the panel, its estimate shown without asking.
    await edit.getByLabel('Which cells').selectOption('empty');
    const estimate = page.getByTestId('run-estimate');
    await expect
      .poll(() => estimate.textContent(), { timeout: 15_000 })
      .toContain(`${ROWS - 5} cells`);
    await edit.getByRole('button', { name: `Run ${ROWS - 5} cells` }).click();
    // These too fail once, then "Regenerate errors" from the column menu fills them.
    await expect
      .poll(() => gridCell(page, ROWS, 2).getAttribute('class'), { timeout: 30_000 })
      .toContain('cell-error');
    await page.getByRole('button', { name: 'Column Summary menu' }).click();
    await page.getByRole('menuitem', { name: 'Regenerate errors' }).click();
    await expect.poll(() => cellText(page, ROWS, 2), { timeout: 30_000 }).toMatch(/^echo: /);

    const grid = page.getByRole('grid');
    await grid.focus();
    await page.keyboard.press('ControlOrMeta+Home');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Alt+Enter');
    const dialog = page.getByRole('dialog');
    await dialog
      .getByTestId('provenance')
      .getByText('Up to date with the prompt and inputs')
      .waitFor();
    expect(await dialog.getByText('gpt-4o-mini', { exact: false }).count()).toBeGreaterThan(0);
    await screenshot(page, 'ai-04-provenance');
    await page.keyboard.press('Escape');
  });

  it('stops a slow run from the runs strip, and exports the generated values', async () => {
    const { page } = e2e;
    const edit = page.getByRole('region', { name: 'AI column Summary' });
    await edit.getByLabel('Model', { exact: true }).selectOption({ label: 'Another model…' });
    await edit.getByLabel('Model id').fill('gpt-4o-mini@latency=5000');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.getByText(/stale/).waitFor();
    await edit.getByLabel('Which cells').selectOption('all');
    await edit.getByRole('button', { name: `Run ${ROWS} cells` }).click();
    const run = page.getByTestId('run').filter({ hasText: 'Generating' });
    await run.waitFor({ timeout: 30_000 });
    await screenshot(page, 'ai-05-running');
    await run.getByRole('button', { name: 'Stop' }).click();
    await page.getByTestId('run').filter({ hasText: 'Stopped' }).waitFor({ timeout: 30_000 });

    await page.getByRole('button', { name: 'Export ▾' }).click();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('menuitem', { name: 'CSV' }).click(),
    ]);
    const text = readFileSync(await download.path(), 'utf8');
    expect(text.split('\n')[0]).toContain('Summary');
    expect(text).toContain('echo: ');
    expect(e2e.errors.filter((error) => !/40[01]/.test(error))).toEqual([]);
  });

  it('keeps stopped runs and runs with errors until dismissed; clean runs hide themselves', async () => {
    const { page } = e2e;
    const runs = page.getByTestId('run');
    // The two "Regenerate errors" runs completed cleanly: gone after a few seconds.
    await expect
      .poll(() => runs.filter({ hasText: 'Done' }).filter({ hasNotText: 'errors' }).count(), {
        timeout: 30_000,
      })
      .toBe(0);
    // The first tries (every first answer failed) and the stopped run stay.
    expect(await runs.filter({ hasText: 'errors' }).count()).toBeGreaterThan(0);
    const stopped = runs.filter({ hasText: 'Stopped' });
    expect(await stopped.count()).toBe(1);
    await stopped.getByRole('button', { name: 'Dismiss the Summary run' }).click();
    expect(await stopped.count()).toBe(0);
    while ((await runs.count()) > 0)
      await runs
        .first()
        .getByRole('button', { name: /^Dismiss/ })
        .click();
    expect(await page.getByRole('region', { name: 'Generation runs' }).count()).toBe(0);
  });

  it('generates rows from a description, showing a failed batch and then new rows in the grid', async () => {
    const { page } = e2e;
    await page.getByRole('button', { name: '✦ Generate rows' }).click();
    const dialog = page.getByRole('dialog', { name: 'Generate rows' });
    await dialog.getByLabel('Describe the rows').fill('Short reviews of a slow café');
    await dialog.getByLabel('Number of rows').fill('2');
    const model = dialog.getByLabel('Model', { exact: true });
    // Every first call per row is refused (400, not asked again): both rows fail.
    await model.selectOption({ label: 'Another model…' });
    await dialog.getByLabel('Model id').fill('gpt-4o-mini@fail-times=1,status=400');
    await dialog.getByRole('button', { name: 'Generate 2 rows' }).click();
    await expect
      .poll(() => dialog.getByTestId('generate-rows-error').textContent(), { timeout: 30_000 })
      .toMatch(/2 of 2 rows could not be generated/);
    expect(await dialog.getByTestId('generate-rows-status').textContent()).toContain(
      '0 of 2 rows added',
    );
    // The runs strip follows the run to its end, and keeps it (it has errors): not "Done".
    const rowRuns = page.getByTestId('run').filter({ hasText: 'New rows' });
    await rowRuns.filter({ hasText: 'Finished with 2 errors' }).waitFor();
    expect(await rowRuns.filter({ hasText: 'Done' }).count()).toBe(0);
    await screenshot(page, 'ai-06-generate-rows-failed');

    await dialog.getByRole('button', { name: 'Generate more' }).click();
    await dialog.getByLabel('Number of rows').fill('3');
    const label = 'gpt-4o-mini — $0.15 / $0.60 per 1M tokens · 128K context';
    await model.selectOption({ label });
    await dialog.getByRole('button', { name: 'Generate 3 rows' }).click();
    await expect
      .poll(() => dialog.getByTestId('generate-rows-status').textContent(), { timeout: 30_000 })
      .toContain('3 of 3 rows added.');
    expect(await dialog.getByTestId('generate-rows-error').count()).toBe(0);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await expect
      .poll(() => page.getByTestId('row-count').textContent(), { timeout: 15_000 })
      .toMatch(new RegExp(`^${ROWS + 3} rows`));
    for (let row = ROWS + 1; row <= ROWS + 3; row++)
      await expect.poll(() => cellText(page, row, 1), { timeout: 15_000 }).not.toBe('');
    // The clean run hides itself; the one with errors stays.
    await expect.poll(() => rowRuns.count(), { timeout: 30_000 }).toBe(1);
    await screenshot(page, 'ai-07-generated-rows');
    expect(e2e.errors.filter((error) => !/40[01]/.test(error))).toEqual([]);
  });
});
