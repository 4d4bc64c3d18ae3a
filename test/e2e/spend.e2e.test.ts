import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Locator } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { UNKNOWN_USAGE } from '../../src/llm/llm-provider.ts';
import { createUsageStore, type UsageRow } from '../../src/llm/llm-usage-store.ts';
import { browserSuite, importFile, screenshot } from './e2e-harness.ts';

const DAY = 86_400_000;
/** A table row's cells, tab-separated. */
const rowText = (row: Locator) =>
  row
    .locator('td')
    .allTextContents()
    .then((cells) => cells.join('\t'));
const dayOf = (time: number) => new Date(time).toISOString().slice(0, 10);

/**
 * Issue 14 item 21: the spend chart's x axis is the selected period (days without calls
 * included, bars), a cost without a known price reads "unknown" (never "$0.00"), and spend is
 * broken down by dataset, column and run.
 */
describe('spend page', () => {
  const e2e = browserSuite({ project: 'Spend project' });
  let datasetId: string;
  const csv = path.join(os.tmpdir(), `braincells-e2e-spend-${process.pid}.csv`);
  const now = Date.now();
  const runId = randomUUID();

  beforeAll(async () => {
    writeFileSync(csv, 'topic\nalpha\nbeta\n');
    datasetId = await importFile(e2e.page, csv);
    const columnId = randomUUID();
    const usage = (createdAt: number, costNano: number | null, model: string): UsageRow => ({
      id: randomUUID(),
      callId: randomUUID(),
      createdAt: new Date(createdAt),
      projectId: e2e.projectId,
      userId: undefined,
      feature: 'sheet-cell',
      entityIds: { datasetId, columnId, runId },
      providerRef: 'e2e',
      providerKind: 'openai',
      model,
      attempt: 1,
      status: 'ok',
      errorCode: undefined,
      failureKind: undefined,
      httpStatus: 200,
      requestId: undefined,
      finishReason: 'stop',
      cacheStatus: 'miss',
      usage: UNKNOWN_USAGE,
      usageEstimated: false,
      costNano,
      savedNano: null,
      latencyMs: 100,
      ttftMs: undefined,
    });
    // Today: one priced call ($0.25); two days ago: a call to a model without a price.
    await createUsageStore(e2e.server.t.platform.database.db).insert([
      usage(now, 250_000_000, 'gpt-4o-mini'),
      usage(now - 2 * DAY, null, 'local-unpriced'),
    ]);
  });

  it('draws the last 7 days as the axis, zero days included, unknown prices as "unknown"', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/spend`);
    await page.getByLabel('Period').selectOption('7d');
    const chart = page.locator('.spend-chart');
    await expect.poll(() => chart.getAttribute('data-days')).toBe('7');
    await expect.poll(() => chart.locator('canvas').count()).toBe(1);
    // The x scale is the period: from the first day's start to the end of today.
    const first = dayOf(now - 6 * DAY);
    expect(await chart.getAttribute('data-x-min')).toBe(`${first}T00:00:00.000Z`);
    expect(await chart.getAttribute('data-x-max')).toBe(`${dayOf(now + DAY)}T00:00:00.000Z`);

    await page.getByText('Cost per day (table)').click();
    const days = page.getByTestId('spend-days').locator('tbody tr');
    expect(await days.count()).toBe(7);
    expect(await rowText(days.first())).toBe(`${first}\t$0.00`);
    expect(await rowText(days.nth(4))).toBe(`${dayOf(now - 2 * DAY)}\tunknown`);
    expect(await rowText(days.nth(6))).toBe(`${dayOf(now)}\t$0.25`);
    expect(await page.getByTestId('spend-total').textContent()).toMatch(
      /^\$0\.25 \+ unknown over 2 calls/,
    );
    await screenshot(page, 'spend-01-week');
  });

  it('breaks spend down by dataset, column and run', async () => {
    const { page } = e2e;
    const table = page.getByTestId('spend-by-entity');
    await expect
      .poll(() => rowText(table.locator('tbody tr').first()))
      .toMatch(/^braincells-e2e-spend-\d+\t2\t0\t0\t\$0\.25 \+ unknown$/);
    await page.getByLabel('Run').check();
    await expect
      .poll(() => rowText(table.locator('tbody tr').first()))
      .toMatch(new RegExp(`^Run ${runId.slice(0, 8)} \\(braincells-e2e-spend-\\d+\\)\\t2\\t`));
    await page.getByLabel('Column').check();
    await expect
      .poll(() => rowText(table.locator('tbody tr').first()))
      .toMatch(/^Deleted column [0-9a-f]{8} \(braincells-e2e-spend-\d+\)\t2\t/);
    // The only console error: the first /api/auth/me before setup (401).
    expect(e2e.errors.filter((error) => !error.includes('401'))).toEqual([]);
  });
});
