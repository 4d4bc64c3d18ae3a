import { describe, expect, it } from 'vitest';
import type { Row } from '../api/sheet-api.ts';
import { hashesAhead, type ThumbnailData, ThumbnailPrefetch } from './thumbnail-prefetch.ts';

const hash = (n: number) => n.toString(16).padStart(64, '0');

/** A server that answers when told to, holding the hashes in `held`; records every request. */
function fakeServer(held: (sha256: string) => boolean = () => true) {
  const requests: string[][] = [];
  const pending: { answer: () => void; fail: () => void }[] = [];
  const fetchThumbnails = (hashes: string[]) =>
    new Promise<ThumbnailData[]>((resolve, reject) => {
      requests.push(hashes);
      pending.push({
        answer: () =>
          resolve(
            hashes
              .filter(held)
              .map((sha256) => ({ sha256, mediaType: 'image/webp', data: `d${sha256.slice(-4)}` })),
          ),
        fail: () => reject(new Error('network')),
      });
    });
  const settle = async (how: 'answer' | 'fail' = 'answer') => {
    const next = pending.shift();
    next?.[how]();
    // The answer's handling and the next request run in later microtasks.
    for (let turn = 0; turn < 5; turn++) await Promise.resolve();
  };
  return { requests, fetchThumbnails, settle, pending };
}

describe('ThumbnailPrefetch', () => {
  it('asks in batches, a few at a time, and keeps each answer as a data URL', async () => {
    const server = fakeServer();
    const prefetch = new ThumbnailPrefetch({
      fetchThumbnails: server.fetchThumbnails,
      batchSize: 3,
      concurrency: 2,
    });
    prefetch.want([1, 2, 2, 3, 4, 5, 6, 7].map(hash).concat(['../../etc/passwd', 'A'.repeat(64)]));
    // Duplicates and anything not a hash are never asked for; two batches in flight.
    expect(server.requests).toEqual([[1, 2, 3].map(hash), [4, 5, 6].map(hash)]);
    expect(prefetch.source(hash(1))).toBeUndefined();
    await server.settle();
    expect(prefetch.source(hash(1))).toBe('data:image/webp;base64,d0001');
    // The freed slot takes the rest of the queue.
    expect(server.requests[2]).toEqual([hash(7)]);
    // Held or in flight: not asked again; the rest waits for a free slot.
    prefetch.want([1, 4, 8].map(hash));
    expect(server.requests).toHaveLength(3);
    await server.settle();
    expect(server.requests).toHaveLength(4);
    expect(server.requests[3]).toEqual([hash(8)]);
  });

  it('drops what was queued when the view moves on, and never asks again for what is not held', async () => {
    const server = fakeServer((sha256) => sha256 !== hash(2));
    const prefetch = new ThumbnailPrefetch({
      fetchThumbnails: server.fetchThumbnails,
      batchSize: 2,
      concurrency: 1,
    });
    prefetch.want([1, 2, 3, 4].map(hash));
    prefetch.want([1, 2, 9].map(hash));
    await server.settle();
    // 3 and 4 were queued, not asked: the scroll went elsewhere.
    expect(server.requests).toEqual([[1, 2].map(hash), [hash(9)]]);
    expect(prefetch.source(hash(2))).toBeUndefined();
    await server.settle();
    prefetch.want([2, 9].map(hash));
    expect(server.requests).toHaveLength(2);
  });

  it('asks again after a failed batch, and keeps its memory bound (least recently used out)', async () => {
    const server = fakeServer();
    // Each data URL is 28 characters: room for three.
    const prefetch = new ThumbnailPrefetch({
      fetchThumbnails: server.fetchThumbnails,
      batchSize: 2,
      concurrency: 1,
      maxChars: 3 * 28,
    });
    prefetch.want([1, 2].map(hash));
    await server.settle('fail');
    expect(prefetch.size).toBe(0);
    prefetch.want([1, 2].map(hash));
    expect(server.requests).toEqual([[1, 2].map(hash), [1, 2].map(hash)]);
    await server.settle();
    expect(prefetch.size).toBe(2);
    prefetch.source(hash(1)); // used: 2 is now the oldest
    prefetch.want([3, 4].map(hash));
    await server.settle();
    expect(prefetch.size).toBe(3);
    expect(prefetch.source(hash(2))).toBeUndefined();
    expect(prefetch.source(hash(1))).toBe('data:image/webp;base64,d0001');
  });
});

describe('ThumbnailPrefetch for the cells in view', () => {
  it('sends the thumbnails needed in one turn as one request, and tells each waiting cell', async () => {
    const server = fakeServer((sha256) => sha256 !== hash(3));
    const prefetch = new ThumbnailPrefetch({
      fetchThumbnails: server.fetchThumbnails,
      batchSize: 2,
      concurrency: 1,
    });
    const told: string[] = [];
    for (const n of [1, 2, 3]) prefetch.subscribe(hash(n), () => told.push(hash(n)));
    // A screen's cells mount and ask in the same turn, in a batch of more than `batchSize`.
    for (const n of [1, 2, 3, 1]) prefetch.need(hash(n));
    expect(prefetch.state(hash(1))).toBe('waiting');
    expect(server.requests).toEqual([]);
    await Promise.resolve();
    expect(server.requests).toEqual([[1, 2, 3].map(hash)]);
    // Asked for already: neither the prefetch nor another cell asks again.
    prefetch.want([1, 2].map(hash));
    prefetch.need(hash(2));
    await Promise.resolve();
    expect(server.requests).toHaveLength(1);
    await server.settle();
    expect(told.sort()).toEqual([1, 2, 3].map(hash));
    expect(prefetch.state(hash(1))).toBe('data:image/webp;base64,d0001');
    // Left out of the answer (not the project's): that cell falls back to its URL.
    expect(prefetch.state(hash(3))).toBe('url');
    expect(prefetch.state('../../etc/passwd')).toBe('url');
  });

  it('lets the cells of a failed batch use their URLs, and stops telling a cell that left', async () => {
    const server = fakeServer();
    const prefetch = new ThumbnailPrefetch({ fetchThumbnails: server.fetchThumbnails });
    const told: string[] = [];
    const leave = prefetch.subscribe(hash(1), () => told.push('1'));
    prefetch.subscribe(hash(2), () => told.push('2'));
    prefetch.need(hash(1));
    prefetch.need(hash(2));
    await Promise.resolve();
    leave();
    await server.settle('fail');
    expect(told).toEqual(['2']);
    expect(prefetch.state(hash(2))).toBe('url');
    prefetch.need(hash(2));
    await Promise.resolve();
    expect(server.requests).toHaveLength(1);
  });
});

describe('hashesAhead', () => {
  const row = (index: number, value: unknown): Row =>
    ({ rowId: String(index), cells: { photo: { value }, note: { value: 'text' } } }) as never;
  const rows = new Map<number, Row>([
    [10, row(10, { sha256: hash(10) })],
    [11, row(11, null)],
    [12, row(12, { sha256: hash(12) })],
    [8, row(8, { sha256: hash(8) })],
  ]);
  const rowAt = (index: number) => rows.get(index);

  it('lists the image hashes of the loaded rows in the scroll direction, nearest first', () => {
    expect(hashesAhead(rowAt, ['photo', 'note'], 10, 4, 1)).toEqual([hash(10), hash(12)]);
    expect(hashesAhead(rowAt, ['photo'], 10, 5, -1)).toEqual([hash(10), hash(8)]);
    expect(hashesAhead(rowAt, ['photo'], 1, 5, -1)).toEqual([]);
  });
});
