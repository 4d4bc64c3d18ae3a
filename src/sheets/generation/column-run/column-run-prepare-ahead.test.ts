import { describe, expect, it } from 'vitest';
import type { ImageReference } from '../../images/image-reference.ts';
import { prepareAhead } from './column-run-prepare-ahead.ts';

interface Row {
  index: number;
  images: ImageReference[];
  eligible: boolean;
}

const image = (index: number, bytes = 1_000): ImageReference => ({
  sha256: index.toString(16).padStart(64, '0'),
  mediaType: 'image/png',
  bytes,
  width: 10,
  height: 10,
  name: `${index}.png`,
});

/** `count` pages of `size` rows, recording how many pages were read and whether it was closed. */
function pagesOf(count: number, size: number, rowOf: (index: number) => Omit<Row, 'index'>) {
  const seen = { read: 0, closed: false };
  async function* pages() {
    try {
      for (let page = 0; page < count; page++) {
        seen.read++;
        yield Array.from({ length: size }, (_, at) => {
          const index = page * size + at;
          return { index, ...rowOf(index) };
        });
      }
    } finally {
      seen.closed = true;
    }
  }
  return { pages: pages(), seen };
}

/** Runs prepareAhead to the end (or `stopAfter` rows), recording what was prepared when. */
async function drive(
  pages: AsyncIterable<Row[]>,
  options: { window?: number; budgetBytes?: number; stopAfter?: number } = {},
  onYield?: (row: Row, prepared: Set<string>) => void,
) {
  const prepared = new Set<string>();
  const batches: string[][] = [];
  const yielded: number[] = [];
  for await (const row of prepareAhead<Row>({
    pages,
    imagesOf: (row) => row.images,
    eligible: (row) => row.eligible,
    window: () => options.window ?? 16,
    prepare: (images) => {
      batches.push(images.map((one) => one.sha256));
      for (const one of images) prepared.add(one.sha256);
    },
    ...(options.budgetBytes === undefined ? {} : { budgetBytes: options.budgetBytes }),
  })) {
    onYield?.(row, prepared);
    yielded.push(row.index);
    if (options.stopAfter !== undefined && yielded.length >= options.stopAfter) break;
  }
  return { prepared, batches, yielded };
}

describe('prepareAhead', () => {
  it('keeps two windows of images prepared ahead of the row handed out, across page boundaries', async () => {
    const { pages } = pagesOf(3, 100, (index) => ({ images: [image(index)], eligible: true }));
    const behind: number[] = [];
    const { yielded, batches } = await drive(pages, { window: 16 }, (row, prepared) => {
      // Every row from this one to two windows on is prepared when this one is handed out.
      for (let next = row.index; next < Math.min(300, row.index + 32); next++)
        if (!prepared.has(image(next).sha256)) behind.push(row.index);
    });
    expect(behind).toEqual([]);
    expect(yielded).toEqual(Array.from({ length: 300 }, (_, index) => index));
    // Batches, not one lookup per row: four windows at a time, at most.
    expect(batches.length).toBeLessThan(300 / 16);
    expect(Math.max(...batches.map((batch) => batch.length))).toBeLessThanOrEqual(64);
  });

  it('passes a page of rows without images straight through, reading no page early', async () => {
    const { pages, seen } = pagesOf(3, 50, () => ({ images: [], eligible: true }));
    const readWhenFirst: number[] = [];
    const { batches, yielded } = await drive(pages, {}, (row) => {
      if (row.index % 50 === 0) readWhenFirst.push(seen.read);
    });
    expect(batches).toEqual([]);
    expect(readWhenFirst).toEqual([1, 2, 3]);
    expect(yielded).toHaveLength(150);
  });

  it('neither prepares nor hands out rows that are not eligible', async () => {
    const { pages } = pagesOf(2, 40, (index) => ({
      images: [image(index)],
      eligible: index % 3 !== 0,
    }));
    const { prepared, yielded } = await drive(pages);
    expect(yielded.every((index) => index % 3 !== 0)).toBe(true);
    expect(yielded).toHaveLength(80 - 27);
    for (let index = 0; index < 80; index++)
      expect(prepared.has(image(index).sha256)).toBe(index % 3 !== 0);
  });

  it('holds at most its byte budget (and one row) of images prepared and not yet handed out', async () => {
    const { pages } = pagesOf(2, 100, (index) => ({
      images: [image(index, 100_000)],
      eligible: true,
    }));
    let handedOut = 0;
    const ahead: number[] = [];
    await drive(pages, { budgetBytes: 1_000_000 }, (_row, prepared) => {
      ahead.push(prepared.size - handedOut);
      handedOut++;
    });
    // 10 images of 100 kB fill the budget; the row being handed out counts until it is.
    expect(Math.max(...ahead)).toBeLessThanOrEqual(11);
    expect(Math.min(...ahead.slice(0, 150))).toBeGreaterThanOrEqual(1);
  });

  it('closes the pages when the window stops asking for rows', async () => {
    const { pages, seen } = pagesOf(10, 100, (index) => ({
      images: [image(index)],
      eligible: true,
    }));
    const { yielded } = await drive(pages, { stopAfter: 5 });
    expect(yielded).toEqual([0, 1, 2, 3, 4]);
    expect(seen.closed).toBe(true);
    expect(seen.read).toBe(1);
  });
});
