import { describe, expect, it } from 'vitest';
import type { Cell, Row, RowWindow } from '../api/sheet-api.ts';
import { RowCache } from './row-cache.ts';

const cell = (value: string, version = 1): Cell => ({
  value,
  status: 'done',
  version,
  validated: false,
  error: null,
  raw: null,
  model: null,
  inputTokens: null,
  outputTokens: null,
  costNanoUsd: null,
  latencyMs: null,
  attempts: null,
  sources: null,
  updatedAt: null,
});

function fakeServer(total: number) {
  const requests: number[] = [];
  const pending: (() => void)[] = [];
  const fetchWindow = (offset: number, limit: number, signal: AbortSignal) =>
    new Promise<RowWindow>((resolve, reject) => {
      requests.push(offset);
      signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      pending.push(() => {
        const rows: Row[] = [];
        for (let index = offset; index < Math.min(total, offset + limit); index++) {
          rows.push({
            rowId: String(index + 1),
            ordinal: index + 1,
            cells: { c: cell(`v${index}`) },
          });
        }
        resolve({ total, offset, rows, lastEventId: 0 });
      });
    });
  const flush = async () => {
    while (pending.length) pending.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return { requests, fetchWindow, flush };
}

describe('RowCache', () => {
  it('fetches the visible pages first, then the margin, a few at a time', async () => {
    const server = fakeServer(1_000_000);
    const cache = new RowCache({ fetchWindow: server.fetchWindow, pageSize: 100, concurrency: 2 });
    cache.ensure(900_000, 900_030);
    expect(server.requests).toEqual([900_000, 899_900]);
    await server.flush();
    await server.flush();
    expect(cache.rowAt(900_010)?.cells.c?.value).toBe('v900010');
    expect(cache.total).toBe(1_000_000);
  });

  it('cancels requests for pages scrolled away from and keeps the page count bounded', async () => {
    const server = fakeServer(1_000_000);
    const cache = new RowCache({
      fetchWindow: server.fetchWindow,
      pageSize: 100,
      maxPages: 5,
      concurrency: 3,
    });
    for (let start = 0; start < 20_000; start += 1_000) {
      cache.ensure(start, start + 30);
      await server.flush();
    }
    expect(cache.pageCount).toBeLessThanOrEqual(5);
    expect(cache.rowAt(19_000)).toBeDefined();
  });

  it('applies live updates by row id, ignores older versions, and notifies once per batch', async () => {
    const server = fakeServer(300);
    const frames: (() => void)[] = [];
    const cache = new RowCache({
      fetchWindow: server.fetchWindow,
      schedule: (callback) => frames.push(callback),
    });
    cache.ensure(0, 50);
    await server.flush();
    for (const run of frames.splice(0)) run();
    let notified = 0;
    cache.subscribe(() => notified++);
    const updates = Array.from({ length: 100 }, (_, index) => ({
      rowId: String(index + 1),
      ...cell(`new${index}`, 2),
    }));
    cache.applyCells('c', updates);
    cache.applyCells('c', [{ rowId: '1', ...cell('older', 1) }]);
    for (const run of frames.splice(0)) run();
    expect(notified).toBe(1);
    expect(cache.rowAt(0)?.cells.c?.value).toBe('new0');
  });

  it('keeps an update that arrived while its page was in flight', async () => {
    const server = fakeServer(300);
    const cache = new RowCache({ fetchWindow: server.fetchWindow });
    cache.ensure(0, 10);
    cache.applyCells('c', [{ rowId: '5', ...cell('live', 7) }]);
    await server.flush();
    expect(cache.rowAt(4)?.cells.c?.value).toBe('live');
  });

  it('shows stale rows while a refresh is under way', async () => {
    const server = fakeServer(300);
    const cache = new RowCache({ fetchWindow: server.fetchWindow });
    cache.ensure(0, 10);
    await server.flush();
    cache.invalidate();
    expect(cache.rowAt(0)).toBeDefined();
    expect(server.requests.length).toBeGreaterThan(1);
  });
});
