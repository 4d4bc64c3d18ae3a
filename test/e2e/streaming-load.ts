import type { Page } from 'playwright-core';
import { systemActor } from '../../src/auth/system-actor.ts';
import type { createSheetsModule } from '../../src/sheets/sheets-module.ts';

/** What the load needs of a running app: its sheets module (same event bus as its SSE). */
export interface SheetsHost {
  sheets: ReturnType<typeof createSheetsModule>;
}

/** Starts recording long tasks (> 50 ms) in the page; read them from window.__longTasks. */
export async function observeLongTasks(page: Page): Promise<void> {
  await page.evaluate(() => {
    const target = window as unknown as {
      __longTasks: number[];
      __longTaskObserver?: PerformanceObserver;
    };
    target.__longTasks = [];
    target.__longTaskObserver?.disconnect();
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) target.__longTasks.push(Math.round(entry.duration));
    });
    observer.observe({ type: 'longtask', buffered: false });
    target.__longTaskObserver = observer;
  });
}

/**
 * Writes `total` cell updates through the sheets service, as the AI column engine does:
 * compare-and-set batches, each published as one `cells-update` event. Every update hits one
 * of the first `visibleRows` rows (two text columns, round after round), so each event changes
 * what is on screen.
 */
export async function streamCellUpdates(
  server: SheetsHost,
  projectId: string,
  datasetId: string,
  options: { total: number; visibleRows: number },
): Promise<{ updates: number; events: number; lastRound: number }> {
  const actor = systemActor();
  const sheets = server.sheets.sheets;
  const dataset = await sheets.getDataset(actor, projectId, datasetId);
  const columns = dataset.columns.filter((column) => column.type === 'text').slice(0, 2);
  const window = await sheets.readWindow(actor, projectId, datasetId, {
    offset: 0,
    limit: options.visibleRows,
  });
  const versions = new Map<string, number>();
  for (const row of window.rows)
    for (const column of columns)
      versions.set(`${row.rowId}:${column.id}`, row.cells[column.id]!.version);
  let updates = 0;
  let events = 0;
  let lastRound = 0;
  for (let round = 0; updates < options.total; round++) {
    lastRound = round;
    for (const [index, column] of columns.entries()) {
      if (updates >= options.total) break;
      const writes = window.rows.map((row, at) => ({
        rowId: BigInt(row.rowId),
        expectedVersion: versions.get(`${row.rowId}:${column.id}`)!,
        value: index === 0 ? `round ${round} row ${at + 1}` : `score ${round}`,
        state: { status: 'done' as const },
      }));
      const result = await sheets.writeCells(actor, projectId, datasetId, column.id, writes);
      for (const applied of result.applied)
        versions.set(`${applied.rowId}:${column.id}`, applied.version);
      updates += result.applied.length;
      events += 1;
    }
  }
  return { updates, events, lastRound };
}
