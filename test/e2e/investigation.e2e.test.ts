import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_DOCUMENTS, sampleBytes } from '../../src/documents/document-samples.ts';
import { sampleAnswer } from '../../src/documents/document-samples-test-helpers.ts';
import { browserSuite, screenshot } from './e2e-harness.ts';

/**
 * Issue 17's investigation path as an analyst walks it in the browser: upload a pile of
 * documents (text, HTML and a five-page PDF), make the "Investigate documents" workflow from its
 * template, run it, read the findings report, and open a finding's document citation at its
 * page — the page text with the quoted line beside the original.
 */
describe('investigation: documents → template → report → citation (browser)', {
  timeout: 300_000,
}, () => {
  const e2e = browserSuite({
    fakeLlm: { record: false },
    project: 'Investigation project',
    providerKey: 'fake-e2e-key-investigation',
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-e2e-investigation-'));
  const files = SAMPLE_DOCUMENTS.map((sample) => path.join(dir, sample.name));

  beforeAll(async () => {
    await Promise.all(
      SAMPLE_DOCUMENTS.map(async (sample, index) =>
        writeFileSync(files[index]!, await sampleBytes(sample)),
      ),
    );
    // The fake answers as a model that reads the documents would, and its summary of the
    // findings copies the references it was given.
    e2e.fake.answerWhen(/^Document "/, sampleAnswer);
    e2e.fake.answerWhen('Findings about', (prompt) => {
      const row = /\[\[row:[^\]]+\]\]/.exec(prompt)?.[0] ?? '';
      const doc = /\[\[doc:[^\]]+\]\]/.exec(prompt)?.[0] ?? '';
      return `- Initech billed far more than anyone else ${row} ${doc}`;
    });
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('uploads documents, runs the investigation template and opens a finding’s page', async () => {
    const { page } = e2e;
    await page.getByRole('link', { name: 'Documents' }).click();
    await page.getByLabel('Name of the new collection').fill('October invoices');
    await page.getByLabel(/^Files/).setInputFiles(files);
    await page.getByRole('button', { name: 'Upload' }).click();
    const statuses = page.getByRole('table', { name: 'Documents' }).locator('tbody tr .status');
    await expect
      .poll(() => statuses.allTextContents(), { timeout: 120_000 })
      .toEqual(SAMPLE_DOCUMENTS.map(() => 'Text extracted'));

    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/workflows`);
    await page.getByRole('link', { name: 'From a template' }).click();
    await page.getByRole('radio', { name: /Investigate documents/ }).check();
    const form = page.getByRole('form', { name: 'Investigate documents fields' });
    await form
      .getByLabel('Documents collection (optional)', { exact: true })
      .selectOption({ label: 'October invoices' });
    await form.getByLabel('Model', { exact: true }).fill('gpt-4o-mini');
    await form.getByLabel('Provider (optional)', { exact: true }).selectOption({ label: 'Fake' });
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByRole('region', { name: 'What the template will make' }).waitFor();
    await page.getByRole('button', { name: 'Create and run' }).click();
    await page.waitForURL(/\/workflow-runs\/[0-9a-f-]+$/);
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 180_000 })
      .toBe('Completed');

    // The report: figures from SQL (the planted findings), each with its row and document page.
    const report = page.getByRole('article', { name: /^Report: Findings/ });
    const text = await report.textContent();
    expect(text).toContain('Anomalies (3)');
    expect(text).toContain('IT-3001');
    expect(text).toContain('Initech billed far more than anyone else');
    await screenshot(page, 'investigation-01-report');

    // The Initech finding's document citation opens that document at its page, whose text holds
    // the line the amount was read from.
    await report.getByRole('link', { name: 'invoice-initech-3001.txt, p. 1' }).first().click();
    await page.waitForURL(/\/documents\?document=[0-9a-f-]+&page=1$/);
    const viewer = page.getByRole('dialog', { name: 'invoice-initech-3001.txt' });
    await expect
      .poll(() => viewer.getByRole('region', { name: 'Extracted text' }).textContent(), {
        timeout: 30_000,
      })
      .toContain('Amount due: 98000.00');
    await screenshot(page, 'investigation-02-cited-page');
    // The only console error is the 401 of the first page load before sign-in.
    expect(e2e.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });
});
