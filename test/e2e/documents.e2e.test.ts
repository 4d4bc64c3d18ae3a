import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, screenshot } from './e2e-harness.ts';

/**
 * Issue 17 item 1 in the browser: upload several documents into a new collection, watch each
 * one's extraction status, see the unsupported one named with its reason, upload a duplicate,
 * and open the collection as a sheet with the extracted text in it.
 */
describe('documents page', () => {
  const e2e = browserSuite({ project: 'Documents project' });
  const dir = os.tmpdir();
  const files = {
    memo: path.join(dir, `bc-e2e-memo-${process.pid}.txt`),
    page: path.join(dir, `bc-e2e-page-${process.pid}.html`),
    tool: path.join(dir, `bc-e2e-tool-${process.pid}.exe`),
  };

  beforeAll(async () => {
    writeFileSync(files.memo, 'Memo: the budget for Q3 is 42,000 EUR.');
    writeFileSync(files.page, '<!doctype html><title>Note</title><p>Paid in full.</p>');
    writeFileSync(files.tool, Buffer.from([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00]));
  });

  const statusOf = (name: string) =>
    e2e.page.getByRole('row').filter({ hasText: name }).locator('.status').textContent();

  it('uploads documents, shows each status, skips a duplicate and opens the collection as a sheet', async () => {
    const { page } = e2e;
    await page.getByRole('link', { name: 'Documents' }).click();
    await page.getByLabel('Name of the new collection').fill('Receipts');
    await page.getByLabel(/^Files/).setInputFiles([files.memo, files.page, files.tool]);
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect
      .poll(() => statusOf(path.basename(files.memo)), { timeout: 60_000 })
      .toBe('Text extracted');
    await expect
      .poll(() => statusOf(path.basename(files.page)), { timeout: 60_000 })
      .toBe('Text extracted');
    // Documents are extracted independently; the binary one may still be queued.
    await expect
      .poll(() => statusOf(path.basename(files.tool)), { timeout: 60_000 })
      .toBe('Unsupported');
    expect(
      await page
        .getByRole('row')
        .filter({ hasText: path.basename(files.tool) })
        .textContent(),
    ).toContain('binary');
    await screenshot(page, 'documents-01-statuses');

    // The same file again: reported, not imported twice.
    await page.getByLabel(/^Files/).setInputFiles([files.memo]);
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect
      .poll(() => page.getByTestId('duplicates').textContent())
      .toContain(path.basename(files.memo));
    // Three documents, and the duplicate listed as such (not a fourth document).
    const rows = page.getByRole('table', { name: 'Documents' }).locator('tbody tr');
    expect(await rows.count()).toBe(4);
    expect((await rows.locator('.status').allTextContents()).sort()).toEqual([
      'Duplicate',
      'Text extracted',
      'Text extracted',
      'Unsupported',
    ]);

    await page.getByRole('link', { name: 'Open as sheet' }).click();
    await page.getByRole('grid').waitFor();
    await expect
      .poll(() => page.getByRole('grid').textContent())
      .toContain('Memo: the budget for Q3 is 42,000 EUR.');
  });
});
