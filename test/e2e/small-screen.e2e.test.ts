import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, importFile, screenshot } from './e2e-harness.ts';

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

/** The page never scrolls sideways: wide content scrolls inside its own box. */
const pageOverflow = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

/**
 * Issue 14 item 22 at a phone's width (390 px): the dataset toolbar groups its actions instead
 * of wrapping into five rows, tables scroll inside their box, and every question is the app's
 * own dialog (never the browser's confirm()).
 */
describe('a 390 px screen', () => {
  const e2e = browserSuite({ viewport: { width: 390, height: 844 }, project: 'Phone project' });
  const csv = path.join(os.tmpdir(), `braincells-e2e-small-${process.pid}.csv`);
  const browserDialogs: string[] = [];

  beforeAll(async () => {
    writeFileSync(csv, ['name,age,city', 'Ada,36,London', 'Alan,41,Wilmslow'].join('\n'));
    e2e.page.on('dialog', (dialog) => {
      browserDialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await importFile(e2e.page, csv);
  });

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
    expect(await pageOverflow(page)).toBeLessThanOrEqual(0);
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

  it('scrolls wide tables inside their box, never the page', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/settings`);
    await page.getByRole('table').first().waitFor();
    await screenshot(page, 'small-04-settings');
    expect(await pageOverflow(page)).toBeLessThanOrEqual(0);
    await page.goto(`${e2e.server.url}/account/api-keys`);
    await page.getByLabel('Name').fill('Phone key');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('cell', { name: 'Phone key' }).waitFor();
    await screenshot(page, 'small-05-api-keys');
    expect(await pageOverflow(page)).toBeLessThanOrEqual(0);
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.getByTestId('confirm-dialog').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'Phone key' }).count()).toBe(0);
    expect(browserDialogs).toEqual([]);
  });
});
