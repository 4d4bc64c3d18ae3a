import { describe, expect, it } from 'vitest';
import { batchedPageReader, mapLimit } from './workflow-extract.ts';

/** A promise and the functions that settle it, for work the test finishes by hand. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

// The chunks of a long document (and the documents of a step) are read `limit` at a time;
// the reduce step gets the answers in chunk order whatever order the calls finish in.
describe('mapLimit', () => {
  it('runs at most `limit` at once and keeps the order of the results', async () => {
    const calls = Array.from({ length: 5 }, () => deferred<string>());
    const started: number[] = [];
    const result = mapLimit([0, 1, 2, 3, 4], 2, (item, index) => {
      expect(index).toBe(item);
      started.push(item);
      return calls[item]!.promise;
    });
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    calls[1]!.resolve('b');
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2]);
    // Finishing out of order: 2, then 0, then 4, then 3.
    calls[2]!.resolve('c');
    await new Promise((resolve) => setImmediate(resolve));
    calls[0]!.resolve('a');
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2, 3, 4]);
    calls[4]!.resolve('e');
    calls[3]!.resolve('d');
    expect(await result).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('starts nothing more after a failure and throws the first error', async () => {
    const calls = Array.from({ length: 4 }, () => deferred<number>());
    const started: number[] = [];
    const result = mapLimit([0, 1, 2, 3], 2, (item) => {
      started.push(item);
      return calls[item]!.promise;
    });
    calls[0]!.reject(new Error('provider 503'));
    await new Promise((resolve) => setImmediate(resolve));
    calls[1]!.resolve(1);
    await expect(result).rejects.toThrow('provider 503');
    expect(started).toEqual([0, 1]);
  });

  it('answers an empty list at once', async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});

// The step's documents' text is read a batch at a time, in the step's order.
describe('batchedPageReader', () => {
  const ids = Array.from({ length: 10 }, (_, index) => `d${index}`);
  const reader = () => {
    const reads: string[][] = [];
    const pages = batchedPageReader(ids, 4, async (wanted) => {
      reads.push(wanted);
      return new Map(wanted.filter((id) => id !== 'd9').map((id) => [id, [`text of ${id}`]]));
    });
    return { reads, pages };
  };

  it('reads each batch of documents once, whichever of them asks first', async () => {
    const { reads, pages } = reader();
    expect(await Promise.all([5, 0, 3, 1, 4].map((index) => pages.pages(index)))).toEqual(
      ['d5', 'd0', 'd3', 'd1', 'd4'].map((id) => [`text of ${id}`]),
    );
    expect(await pages.pages(8)).toEqual(['text of d8']);
    expect(reads).toEqual([
      ['d4', 'd5', 'd6', 'd7'],
      ['d0', 'd1', 'd2', 'd3'],
      ['d8', 'd9'],
    ]);
  });

  it('answers NOT_FOUND for a document the read did not find', async () => {
    const { pages } = reader();
    await expect(pages.pages(9)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('reads `ahead` batches after the one asked for, never one already let go', async () => {
    const reads: string[][] = [];
    const pages = batchedPageReader(
      ids,
      4,
      async (wanted) => {
        reads.push(wanted);
        return new Map(wanted.map((id) => [id, [`text of ${id}`]]));
      },
      { ahead: 1 },
    );
    expect(await pages.pages(0)).toEqual(['text of d0']);
    // The second batch is read with the first, before any of its documents asks.
    expect(reads).toEqual([
      ['d0', 'd1', 'd2', 'd3'],
      ['d4', 'd5', 'd6', 'd7'],
    ]);
    for (const index of [4, 5, 6, 7]) pages.done(index);
    // The first batch's last document asks: the second, let go, is not read ahead again.
    expect(await pages.pages(3)).toEqual(['text of d3']);
    expect(reads).toHaveLength(2);
    // The second batch's ask reads the third (the last, of two documents) ahead.
    await pages.pages(5);
    expect(reads.slice(2)).toEqual([
      ['d4', 'd5', 'd6', 'd7'],
      ['d8', 'd9'],
    ]);
  });

  it('lets a batch go once each of its documents is done (a later ask reads it again)', async () => {
    const { reads, pages } = reader();
    await pages.pages(0);
    for (const index of [0, 1, 2]) pages.done(index);
    await pages.pages(3);
    expect(reads).toHaveLength(1);
    pages.done(3);
    await pages.pages(3);
    expect(reads).toHaveLength(2);
  });
});
