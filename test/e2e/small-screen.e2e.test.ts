import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../../src/auth/system-actor.ts';
import { writeClaudeProjects } from '../../src/monitor/monitor-test-helpers.ts';
import { browserSuite, importFile, screenshot, sidewaysOverflow } from './e2e-harness.ts';

/** How many lines the visible children of `container` take (distinct top offsets). */
const lineCount = (container: Locator) =>
  container.evaluate((element) => {
    const tops = new Set<number>();
    for (const child of element.children) {
      const box = child.getBoundingClientRect();
      if (box.width > 0 && box.height > 0) tops.add(Math.round(box.top));
    }
    return tops.size;
  });

/**
 * Issue 14 item 22 at a phone's width (390 px): the dataset toolbar groups its actions instead
 * of wrapping into five rows, tables scroll inside their box, and every question is the app's
 * own dialog (never the browser's confirm()).
 */
describe('a 390 px screen', () => {
  // Coding-agent logs for the monitor's pages (a folder the server may read).
  const logs = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'braincells-e2e-small-logs-')));
  const e2e = browserSuite({
    viewport: { width: 390, height: 844 },
    project: 'Phone project',
    server: { monitor: { roots: [logs] } },
  });
  const csv = path.join(os.tmpdir(), `braincells-e2e-small-${process.pid}.csv`);
  const browserDialogs: string[] = [];
  let datasetId = '';

  beforeAll(async () => {
    writeFileSync(csv, ['name,age,city', 'Ada,36,London', 'Alan,41,Wilmslow'].join('\n'));
    e2e.page.on('dialog', (dialog) => {
      browserDialogs.push(dialog.message());
      void dialog.dismiss();
    });
    datasetId = await importFile(e2e.page, csv);
    await e2e.server.t.app.monitor.importLocalPath(systemActor(), e2e.projectId, {
      path: writeClaudeProjects(logs).projects,
      source: 'auto',
    });
  });
  afterAll(() => rmSync(logs, { recursive: true, force: true }));

  it('groups the dataset toolbar into two lines and keeps every action reachable', async () => {
    const { page } = e2e;
    await page.getByRole('grid').waitFor();
    await screenshot(page, 'small-01-dataset');
    const toolbar = page.getByRole('toolbar', { name: 'Dataset tools' });
    expect(await lineCount(toolbar)).toBeLessThanOrEqual(2);
    const header = page.locator('.dataset-header');
    expect(await header.evaluate((element) => element.getBoundingClientRect().height)).toBeLessThan(
      150,
    );
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    // The grouped actions are one menu away.
    await page.getByRole('button', { name: 'Actions ▾' }).click();
    for (const name of ['+ Row', '+ Column', '✦ AI column', '✦ Generate rows', 'ƒ Formula column'])
      await page.getByRole('menuitem', { name }).waitFor();
    await screenshot(page, 'small-02-actions');
    await page.getByRole('menuitem', { name: '+ Row' }).click();
    await expect.poll(() => page.getByTestId('row-count').textContent()).toContain('3 rows');
    // Deleting asks in the app's own dialog, which fits the screen.
    await page.getByRole('button', { name: 'Actions ▾' }).click();
    await page.getByRole('menuitem', { name: 'Delete row' }).click();
    const confirm = page.getByTestId('confirm-dialog');
    await confirm.waitFor();
    const box = await page.locator('dialog[open]').boundingBox();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    await screenshot(page, 'small-03-confirm');
    await confirm.getByRole('button', { name: 'Delete 1 row' }).click();
    await expect.poll(() => page.getByTestId('row-count').textContent()).toContain('2 rows');
  });

  it('no main page is wider than the screen', async () => {
    const { page } = e2e;
    const project = `${e2e.server.url}/projects/${e2e.projectId}`;
    const heading = (name: string) => page.getByRole('heading', { level: 1, name });
    // Each page, and what shows that it has drawn what it loads.
    const pages: [string, string, () => Locator][] = [
      [
        'datasets',
        `${project}/datasets`,
        () => page.getByRole('link', { name: /braincells-e2e-small/ }),
      ],
      ['a sheet', `${project}/datasets/${datasetId}`, () => page.getByRole('grid')],
      ['chat', `${project}/chat`, () => page.getByText('Pick a thread or start a new one.')],
      ['agents', `${project}/agents`, () => heading('Agents')],
      ['documents', `${project}/documents`, () => heading('Documents')],
      ['workflows', `${project}/workflows`, () => heading('Workflows')],
      [
        'monitor',
        `${project}/monitor`,
        // The chart draws after its query answers.
        () => page.getByRole('img', { name: 'Tokens per day by bucket' }),
      ],
      ['members', `${project}/members`, () => page.getByRole('table').first()],
      ['settings', `${project}/settings`, () => page.getByRole('table').first()],
      ['spend', `${project}/spend`, () => heading('Spend')],
      ['gateway', `${project}/gateway`, () => heading('Gateway keys')],
      ['API keys', `${e2e.server.url}/account/api-keys`, () => heading('API keys')],
      ['security', `${e2e.server.url}/account/security`, () => heading('Security')],
      ['sessions', `${e2e.server.url}/account/sessions`, () => page.getByRole('table').first()],
    ];
    const overflow: Record<string, number> = {};
    for (const [name, url, drawn] of pages) {
      await page.goto(url);
      await drawn().waitFor();
      await screenshot(page, `small-page-${name.replace(' ', '-')}`);
      overflow[name] = await sidewaysOverflow(page);
    }
    // A monitor session: its trace, tokens per step and transcript.
    await page.goto(`${project}/monitor`);
    await page.getByTestId('monitor-sessions').locator('tbody tr a').first().click();
    await page.getByTestId('monitor-session-trace').locator('tbody tr').first().waitFor();
    await screenshot(page, 'small-page-monitor-session');
    overflow['a monitor session'] = await sidewaysOverflow(page);
    // Every page at once, so one run names every page that is too wide.
    expect(
      Object.entries(overflow).filter(([, pixels]) => pixels > 0),
      JSON.stringify(overflow),
    ).toEqual([]);
  });

  it('keeps every project section one menu away, none off the screen', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/datasets`);
    const menu = page.getByRole('navigation', { name: 'Project' }).getByRole('button');
    expect(await menu.textContent()).toContain('Datasets');
    await menu.click();
    const items = page.getByRole('menuitem');
    expect(await items.allTextContents()).toEqual([
      'Datasets',
      'Documents',
      'Workflows',
      'Chat',
      'Agents',
      'Members',
      'Settings',
      'Spend',
      'Gateway',
      'Monitor',
    ]);
    for (const item of await items.all()) {
      const box = (await item.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      expect(box.y + box.height).toBeLessThanOrEqual(844);
    }
    await screenshot(page, 'small-06-sections');
    await page.getByRole('menuitem', { name: 'Monitor' }).click();
    await page.getByRole('heading', { level: 1, name: 'Monitor' }).waitFor();
    expect(await menu.textContent()).toContain('Monitor');
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
  });

  it('previews an import with the date formats the import reads with, in a dialog that fits', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/datasets`);
    // ISO dates are read with DuckDB's own parser (no format, #14 item 14); others with theirs.
    for (const [name, text, shown] of [
      ['iso', 'n,joined\n1,2024-03-05\n2,2024-12-31\n', 'dates ISO'],
      ['eu', 'n;joined\n1;05/03/2024\n2;31/12/2024\n', 'dates %d/%m/%Y'],
    ]) {
      const file = path.join(os.tmpdir(), `braincells-e2e-small-${name}-${process.pid}.csv`);
      writeFileSync(file, text!);
      await page.getByRole('button', { name: 'Import…' }).click();
      await page.locator('input[type=file]').setInputFiles(file);
      const dialect = page.getByTestId('import-dialect');
      await dialect.waitFor();
      expect(await dialect.textContent()).toContain(shown);
      expect(await dialect.textContent()).not.toContain('%Y-%m-%d');
      const box = (await page.locator('dialog[open]').boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
      await screenshot(page, `small-07-import-${name}`);
      // A second switch keeps the first: the options previewed are the ones the start uses.
      const relaxed = page.getByLabel('Relaxed quotes');
      const firstRow = page.getByLabel('First row is data');
      await relaxed.click();
      await expect.poll(() => relaxed.isChecked()).toBe(true);
      await firstRow.click();
      await expect.poll(() => firstRow.isChecked()).toBe(true);
      expect(await relaxed.isChecked()).toBe(true);
      await page.getByRole('button', { name: 'Cancel' }).click();
    }
  });

  it('scrolls wide tables inside their box, never the page', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/settings`);
    await page.getByRole('table').first().waitFor();
    await screenshot(page, 'small-04-settings');
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    await page.goto(`${e2e.server.url}/account/api-keys`);
    await page.getByLabel('Name').fill('Phone key');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('cell', { name: 'Phone key' }).waitFor();
    await screenshot(page, 'small-05-api-keys');
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.getByTestId('confirm-dialog').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'Phone key' }).count()).toBe(0);
    expect(browserDialogs).toEqual([]);
    // No page error; the 401 is the first visit's session check, before set-up.
    expect(e2e.errors.filter((error) => !error.includes('401'))).toEqual([]);
  });
});
