import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, screenshot, sidewaysOverflow } from './e2e-harness.ts';

async function twoPagePdf(): Promise<Uint8Array> {
  const document = await PDFDocument.create();
  const font = await document.embedFont(StandardFonts.Helvetica);
  document.addPage([300, 200]).drawText('Invoice 7 from Acme.', { x: 10, y: 100, size: 12, font });
  document.addPage([300, 200]).drawText('Total due: 1,250 EUR.', { x: 10, y: 100, size: 12, font });
  return document.save();
}

/**
 * Issue 17 item 7 in the browser: upload two documents and read one page by page; build a
 * workflow (documents → SQL → report) in the editor, where a 400 lands at the field it names;
 * run it, follow the timeline to the end, read the report (raw HTML as text, an unknown
 * `[[…]]` as text, a citation that opens the document at its page); then the same pages at a
 * phone's width.
 */
describe('documents and workflows pages', () => {
  const e2e = browserSuite({ project: 'Workflows project' });
  const dir = os.tmpdir();
  const files = {
    memo: path.join(dir, `bc-e2e-wf-memo-${process.pid}.txt`),
    invoice: path.join(dir, `bc-e2e-wf-invoice-${process.pid}.pdf`),
  };

  beforeAll(async () => {
    writeFileSync(files.memo, 'Memo: the budget for Q3 is 42,000 EUR.');
    writeFileSync(files.invoice, await twoPagePdf());
  });

  const statusOf = (name: string) =>
    e2e.page.getByRole('row').filter({ hasText: name }).locator('.status').textContent();

  it('uploads two documents and shows one page by page with its original', async () => {
    const { page } = e2e;
    await page.getByRole('link', { name: 'Documents' }).click();
    await page.getByLabel('Name of the new collection').fill('Receipts');
    await page.getByLabel(/^Files/).setInputFiles([files.memo, files.invoice]);
    await page.getByRole('button', { name: 'Upload' }).click();
    for (const file of [files.memo, files.invoice]) {
      await expect
        .poll(() => statusOf(path.basename(file)), { timeout: 60_000 })
        .toBe('Text extracted');
    }

    await page.getByRole('button', { name: `View ${path.basename(files.invoice)}` }).click();
    const viewer = page.getByRole('dialog', { name: path.basename(files.invoice) });
    await expect.poll(() => viewer.getByTestId('page-text').textContent()).toContain('Invoice 7');
    // The original beside the text: the PDF framed from our origin, inline, at the page shown.
    const frame = viewer.getByTitle(`Original: ${path.basename(files.invoice)}`);
    expect(await frame.getAttribute('src')).toMatch(/\/original\?inline=true#page=1$/);
    const framed = await page.request.get(
      `${e2e.server.url}${(await frame.getAttribute('src'))!.split('#')[0]}`,
    );
    expect(framed.headers()['content-type']).toBe('application/pdf');
    expect(framed.headers()['content-disposition']).toMatch(/^inline;/);
    await viewer.getByRole('button', { name: 'Next ›' }).click();
    expect(await viewer.getByTestId('page-text').textContent()).toContain('Total due: 1,250 EUR.');
    expect(await frame.getAttribute('src')).toMatch(/#page=2$/);
    expect(
      await viewer.getByRole('link', { name: 'Download original' }).getAttribute('href'),
    ).toMatch(/\/documents\/[0-9a-f-]+\/original$/);
    await screenshot(page, 'workflows-01-document-viewer');
    await viewer.getByRole('button', { name: 'Close' }).click();
    await viewer.waitFor({ state: 'hidden' });

    // A text original is not rendered from its bytes: its text is the left pane.
    await page.getByRole('button', { name: `View ${path.basename(files.memo)}` }).click();
    const memo = page.getByRole('dialog', { name: path.basename(files.memo) });
    await memo.getByText('is not shown in the app').waitFor();
    expect(await memo.locator('iframe, img').count()).toBe(0);
    await memo.getByRole('button', { name: 'Close' }).click();
    await memo.waitFor({ state: 'hidden' });
  });

  it('builds a workflow in the editor, shows a 400 at its field, runs it and shows timeline and report', async () => {
    const { page } = e2e;
    // The invoice's id, for a citation in the report.
    const invoiceId = await page.evaluate(
      async ({ projectId, name }) => {
        const base = `/api/projects/${projectId}/documents`;
        const { items: collections } = await (await fetch(`${base}/collections`)).json();
        const { items } = await (await fetch(`${base}?datasetId=${collections[0].id}`)).json();
        return (items as { id: string; name: string }[]).find((item) => item.name === name)!.id;
      },
      { projectId: e2e.projectId, name: path.basename(files.invoice) },
    );

    await page.getByRole('link', { name: 'Workflows' }).click();
    await page.getByText('No workflows yet').waitFor();
    await page.getByRole('link', { name: 'New workflow' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Findings');

    // The new workflow starts with a report step; add the documents and SQL steps before it.
    await page.getByLabel('Kind of the new step').selectOption('import-documents');
    await page.getByRole('button', { name: '+ Add step' }).click();
    await page.getByLabel('Kind of the new step').selectOption('sql');
    await page.getByRole('button', { name: '+ Add step' }).click();
    await page.getByRole('button', { name: 'Move step 2 up' }).click();
    await page.getByRole('button', { name: 'Move step 3 up' }).click();
    const step = (n: number, kind: string) =>
      page.getByRole('group', { name: `Step ${n}: ${kind}` });
    const documents = step(1, 'Wait for documents');
    const sql = step(2, 'SQL query');
    const report = step(3, 'Write a report');
    await documents
      .getByLabel('Documents collection', { exact: true })
      .selectOption({ label: 'Receipts (2 documents)' });
    await sql.getByLabel('Step id', { exact: true }).fill('count');
    await sql.getByLabel('SQL', { exact: true }).fill('select count(*) as documents from dataset');
    await report.getByLabel('Title', { exact: true }).fill('Findings');
    await report
      .getByLabel('Report (Markdown)', { exact: true })
      .fill(
        [
          '# Findings',
          '',
          `We read **{{steps.count.rows.0.documents}}** documents. The total is on page 2 [[doc:${invoiceId}#p2]].`,
          '',
          'Unknown [[footnote 7]] and <b>raw markup</b> stay text.',
          '',
          `Attack: <img src=x onerror="window.__pwned=1"> [click](javascript:window.__pwned=1) [[doc:${invoiceId}" onmouseover="window.__pwned=1]]`,
        ].join('\n'),
      );

    // No dataset for the SQL step: the API's 400 is shown under that step's Dataset field.
    await page.getByRole('button', { name: 'Create workflow' }).click();
    const datasetField = sql.getByLabel('Dataset', { exact: true });
    await expect.poll(() => datasetField.getAttribute('aria-invalid')).toBe('true');
    const describedBy = (await datasetField.getAttribute('aria-describedby'))!;
    expect(await page.locator(`[id="${describedBy.split(' ')[0]}"]`).textContent()).toBe(
      'Choose one (Invalid UUID)',
    );
    // The first field the API named has the focus.
    expect(await datasetField.evaluate((element) => element === document.activeElement)).toBe(true);
    await screenshot(page, 'workflows-02-field-error');

    await datasetField.selectOption({ label: 'Receipts' });
    await page.getByRole('button', { name: 'Create workflow' }).click();
    await page.waitForURL(/\/workflows\/[0-9a-f-]+$/);
    await page.getByRole('heading', { name: 'Findings', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/workflow-runs\/[0-9a-f-]+$/);
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 })
      .toBe('Completed');
    const timeline = page.getByRole('list', { name: 'Timeline' });
    expect(await timeline.getByTestId('step-status').allTextContents()).toEqual([
      'Completed',
      'Completed',
      'Completed',
    ]);
    expect(await timeline.getByRole('listitem').first().textContent()).toMatch(
      /Duration.*Attempts1/,
    );

    const rendered = page.getByRole('article', { name: 'Report: Findings' });
    expect(await rendered.locator('strong').first().textContent()).toBe('2');
    const text = await rendered.textContent();
    expect(text).toContain('Unknown [[footnote 7]] and <b>raw markup</b> stay text.');
    expect(await rendered.locator('.markdown b').count()).toBe(0);
    // Hostile markup in a report is text; a javascript: link loses its target; a citation
    // with markup in it is not a citation: the report step marks it unresolved.
    expect(text).toContain('<img src=x onerror="window.__pwned=1">');
    expect(text).toContain('click [unresolved citation]');
    expect(text).not.toContain('onmouseover="window.__pwned=1]]');
    expect(await rendered.locator('img, script, [onerror], [onmouseover]').count()).toBe(0);
    expect(await rendered.locator('a[href^="javascript"]').count()).toBe(0);
    // The report step resolved the valid citation into a link to the document's page.
    expect(await rendered.locator('a[href*="/documents?document="]').count()).toBe(1);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    await screenshot(page, 'workflows-03-run');

    await rendered.getByRole('link', { name: `${path.basename(files.invoice)}, p. 2` }).click();
    await page.waitForURL(/\/documents\?document=/);
    const viewer = page.getByRole('dialog', { name: path.basename(files.invoice) });
    await expect.poll(() => viewer.getByTestId('page-text').textContent()).toContain('Total due');
    expect(
      await viewer.getByTitle(`Original: ${path.basename(files.invoice)}`).getAttribute('src'),
    ).toMatch(/#page=2$/);
    await viewer.getByRole('button', { name: 'Close' }).click();
    // The 400 above and the 401 of "who am I" before setup are logged by the browser as failed
    // loads; nothing else may be.
    expect(e2e.errors.filter((error) => !/status of 40[01]/.test(error))).toEqual([]);
  });

  it('saves a new version with an approval step; its run waits, and goes on when approved', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/workflows`);
    await page.getByRole('link', { name: 'Findings' }).click();
    await page.getByLabel('Kind of the new step').selectOption('approval');
    await page.getByRole('button', { name: '+ Add step' }).click();
    await page
      .getByRole('group', { name: 'Step 4: Wait for approval' })
      .getByLabel('Message to the approver', { exact: true })
      .fill('Check the count before the report goes out.');
    await page.getByRole('button', { name: 'Save version 2' }).click();
    await page.getByRole('button', { name: 'Save version 3' }).waitFor();

    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/workflow-runs\/[0-9a-f-]+$/);
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 })
      .toBe('Waiting for approval');
    const approval = page.getByRole('listitem', { name: 'Step 4: approval' });
    await approval.getByLabel('Note (optional)').fill('Count checked.');
    await approval.getByRole('button', { name: 'Approve' }).click();
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 })
      .toBe('Completed');
    expect(await approval.textContent()).toContain('Count checked.');
  });

  it('follows a run live: a decision made elsewhere reaches the open run view through its event stream', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/workflows`);
    await page.getByRole('link', { name: 'Findings' }).click();
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/workflow-runs\/[0-9a-f-]+$/);
    const runId = page.url().split('/').at(-1)!;
    // The page reads the run once and then only listens: nothing but the stream can bring
    // the steps' changes and the decision below (made through the API, not this page).
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 })
      .toBe('Waiting for approval');
    const decided = await e2e.send(
      'POST',
      `/api/projects/${e2e.projectId}/workflow-runs/${runId}/steps/approval/decision`,
      { decision: 'approved', note: 'Approved elsewhere.' },
    );
    expect(decided.status()).toBe(200);
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 })
      .toBe('Completed');
    const approval = page.getByRole('listitem', { name: 'Step 4: approval' });
    expect(await approval.textContent()).toContain('Approved elsewhere.');
  });

  it('edits an llm step on an agent and an export step in forms; the export is downloadable', async () => {
    const { page } = e2e;
    const created = await e2e.send('POST', `/api/projects/${e2e.projectId}/chat/agents`, {
      name: 'Auditor',
      model: 'gpt-4o-mini',
      instructions: 'Be terse.',
    });
    expect(created.status()).toBe(201);

    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/workflows`);
    await page.getByRole('link', { name: 'Findings' }).click();
    const step = (n: number, kind: string) =>
      page.getByRole('group', { name: `Step ${n}: ${kind}` });

    // An llm step on the agent runs on the agent's model until another one is chosen.
    await page.getByLabel('Kind of the new step').selectOption('llm');
    await page.getByRole('button', { name: '+ Add step' }).click();
    const llm = step(5, 'Ask a model');
    await llm.getByLabel('Agent (optional)').selectOption({ label: 'Auditor (gpt-4o-mini)' });
    await llm.getByText("Model: the agent's (gpt-4o-mini)").waitFor();
    await llm.getByRole('button', { name: 'Choose another model' }).click();
    await llm.getByRole('button', { name: "Use the agent's model" }).click();
    await llm.getByRole('button', { name: 'Choose another model' }).waitFor();
    await page.getByRole('button', { name: 'Remove step 5' }).click();

    // An export step with no source: the API's 400 lands under its Dataset field.
    await page.getByLabel('Kind of the new step').selectOption('export');
    await page.getByRole('button', { name: '+ Add step' }).click();
    const exported = step(5, 'Export a file');
    await page.getByRole('button', { name: 'Save version 3' }).click();
    const dataset = exported.getByLabel('Dataset', { exact: true });
    await expect.poll(() => dataset.getAttribute('aria-invalid')).toBe('true');
    await exported.getByLabel('Or the report of step').selectOption('report');
    expect(await exported.getByLabel('Format').inputValue()).toBe('md');
    await exported.getByLabel('Format').selectOption({ label: 'HTML' });
    await page.getByRole('button', { name: 'Save version 3' }).click();
    await page.getByRole('button', { name: 'Save version 4' }).waitFor();

    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/workflow-runs\/[0-9a-f-]+$/);
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 })
      .toBe('Waiting for approval');
    await page
      .getByRole('listitem', { name: 'Step 4: approval' })
      .getByRole('button', { name: 'Approve' })
      .click();
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 })
      .toBe('Completed');
    const link = page
      .getByRole('listitem', { name: 'Step 5: export' })
      .getByRole('link', { name: 'Download export.html' });
    const file = await page.request.get(`${e2e.server.url}${await link.getAttribute('href')}`);
    expect(file.headers()['content-disposition']).toMatch(/^attachment/);
    expect(await file.text()).toContain('Findings');
  });

  it('fits a 390 px screen: documents, editor, run and report scroll only inside their boxes', async () => {
    const { page } = e2e;
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/documents`);
    await page.getByRole('heading', { name: 'Documents' }).waitFor();
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);

    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/workflows`);
    await page.getByRole('link', { name: 'Findings' }).click();
    await page.getByRole('group', { name: 'Step 3: Write a report' }).waitFor();
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);

    await page.getByRole('table', { name: 'Runs' }).getByRole('link').first().click();
    await page.getByRole('article', { name: 'Report: Findings' }).waitFor();
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    const box = await page.getByRole('button', { name: 'Rerun', exact: true }).boundingBox();
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    await screenshot(page, 'workflows-04-run-390');
  });
});
