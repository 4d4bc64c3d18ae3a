import { beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, cellText, screenshot } from './e2e-harness.ts';

/**
 * Issue 17 in the browser: a workflow made from a template through the picker (choose it, fill
 * its fields, see what it will make, create and run it), and a report's row citation that opens
 * the sheet scrolled to its row, selected.
 */
describe('workflow templates and row citations (browser)', { timeout: 300_000 }, () => {
  const e2e = browserSuite({ fakeLlm: { record: false }, project: 'Templates project' });

  const api = async (method: 'GET' | 'POST', url: string, data?: unknown) => {
    const response = await e2e.send(method, `/api/projects/${e2e.projectId}${url}`, data);
    expect(response.status(), await response.text()).toBeLessThan(300);
    return response.json() as Promise<Record<string, unknown>>;
  };
  /** A dataset of one text column `Text`, with `texts` as its rows. */
  const dataset = async (name: string, texts: string[]) => {
    const created = (await api('POST', '/datasets', {
      name,
      columns: [{ name: 'Text', type: 'text' }],
    })) as { id: string; columns: { id: string }[] };
    const columnId = created.columns[0]!.id;
    await api('POST', `/datasets/${created.id}/rows`, {
      rows: texts.map((text) => ({ [columnId]: text })),
    });
    return created.id;
  };

  beforeAll(() =>
    api('POST', '/llm/providers', {
      name: 'Fake',
      kind: 'openai',
      baseUrl: `${e2e.fake.url}/v1`,
      apiKey: 'fake-e2e-key-templates',
    }),
  );

  it('picks a template, previews what it makes, creates and runs it', async () => {
    const { page } = e2e;
    await dataset('Reviews', ['Great service', 'Too slow', 'Fine']);
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/workflows`);
    await page.getByRole('link', { name: 'From a template' }).click();
    await page.waitForURL(/\/workflows\/templates$/);
    await page.getByRole('radio', { name: /Enrich a dataset/ }).check();
    const form = page.getByRole('form', { name: 'Enrich a dataset fields' });
    await form.getByLabel('Dataset', { exact: true }).selectOption({ label: 'Reviews' });
    await form.getByLabel('New column', { exact: true }).fill('Summary');
    await form.getByLabel('Prompt', { exact: true }).fill('Summarize {{Text}}');
    await form.getByLabel('Model', { exact: true }).fill('gpt-4o-mini');
    await form.getByLabel('Provider (optional)', { exact: true }).selectOption({ label: 'Fake' });
    // Nothing is made before the preview is seen.
    expect(await page.getByRole('button', { name: 'Create and run' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Preview' }).click();
    const preview = page.getByRole('region', { name: 'What the template will make' });
    await preview.waitFor();
    expect(await preview.getByRole('heading', { level: 2 }).textContent()).toBe('“Enrich Reviews”');
    expect(await preview.getByRole('listitem').allTextContents()).toEqual([
      'An AI column “Summary” (gpt-4o-mini)',
      'enrich — Fill an AI column',
      'filled — SQL query',
      'report — Write a report',
    ]);
    const workflows = (await api('GET', '/workflows')) as { items: unknown[] };
    expect(workflows.items).toHaveLength(0);
    await screenshot(page, 'workflow-templates-01-preview');

    await page.getByRole('button', { name: 'Create and run' }).click();
    await page.waitForURL(/\/workflow-runs\/[0-9a-f-]+$/);
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 120_000 })
      .toBe('Completed');
    const report = page.getByRole('article', { name: 'Report: Enriched Reviews' });
    expect(await report.textContent()).toContain('Filled 3 of 3 rows');
  });

  it('opens a row citation with the sheet scrolled to the row, selected', async () => {
    const { page } = e2e;
    const texts = Array.from({ length: 400 }, (_, index) => `Review ${index + 1}`);
    const datasetId = await dataset('Many reviews', texts);
    const workflow = (await api('POST', '/workflows', {
      name: 'Cite a row',
      definition: {
        steps: [
          {
            id: 'find',
            kind: 'sql',
            datasetId,
            sql: `select '[[row:${datasetId}/' || _row_id || ']]' as cite from dataset where "Text" = 'Review 350'`,
          },
          {
            id: 'report',
            kind: 'report',
            title: 'Cited',
            markdown: 'The row: {{steps.find.rows.0.cite}}',
          },
        ],
      },
    })) as { id: string };
    const run = (await api('POST', `/workflows/${workflow.id}/runs`, { inputs: {} })) as {
      id: string;
    };
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/workflow-runs/${run.id}`);
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 })
      .toBe('Completed');
    const citation = page
      .getByRole('article', { name: 'Report: Cited' })
      .getByRole('link', { name: /Many reviews, row \d+/ });
    await citation.click();
    await page.waitForURL(/\/datasets\/[0-9a-f-]+\?row=\d+$/);
    // Row 350 of 400 is far below the first screen: the grid scrolled to it and selected it.
    const row = page.locator('[role=row][aria-rowindex="351"]');
    await expect.poll(() => row.getAttribute('aria-selected'), { timeout: 30_000 }).toBe('true');
    expect(await row.isVisible()).toBe(true);
    // The row is laid out (and selected) before its window of values arrives: wait for it.
    await expect.poll(() => cellText(page, 350, 1), { timeout: 30_000 }).toBe('Review 350');
    expect(await page.locator('[role=row][aria-rowindex="2"]').count()).toBe(0);
    await screenshot(page, 'workflow-templates-02-cited-row');
  });
});
