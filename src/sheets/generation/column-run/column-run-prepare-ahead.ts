import type { ImageReference } from '../../images/image-reference.ts';

/** Image bytes prepared ahead of the cells handed out, at most (with the rows bound below). */
export const PREPARE_AHEAD_BYTES = 48 * 1024 * 1024;

export interface PrepareAheadOptions<Row> {
  /** The rows in the order their cells are handed out, a page at a time. */
  pages: AsyncIterable<Row[]>;
  /** A row's images; a page where no row has any passes straight through (a text column). */
  imagesOf(row: Row): readonly ImageReference[];
  /** Whether a row's cell is handed out, asked as it comes up (cells finish meanwhile). */
  eligible(row: Row): boolean;
  /** The window's width now: how many calls are in flight at once. */
  window(): number;
  /** Starts getting a batch of images ready (one lookup for the batch; nothing waits on it). */
  prepare(images: ImageReference[]): void;
  budgetBytes?: number;
}

interface Page<Row> {
  rows: Row[];
  images: (readonly ImageReference[])[];
  /** The image bytes prepared for each row up to preparedTo (0: none, or not eligible). */
  counted: number[];
  preparedTo: number;
}

/**
 * The eligible rows of a vision column's pages, their images prepared ahead
 * (docs/images.md "Vision columns"): once fewer than two windows of rows are prepared ahead of
 * the row handed out, the rows up to four windows ahead (and budgetBytes of images) go in one
 * batch. A batch runs on into the next page, read early for it — else the first window of
 * every page (SCAN_PAGE rows) found its images not ready and its calls waited for a lookup,
 * file reads and encoding.
 */
export async function* prepareAhead<Row>(options: PrepareAheadOptions<Row>): AsyncGenerator<Row> {
  const budget = options.budgetBytes ?? PREPARE_AHEAD_BYTES;
  const iterator = options.pages[Symbol.asyncIterator]();
  let ended = false;
  const read = async (): Promise<Page<Row> | undefined> => {
    if (ended) return undefined;
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      return undefined;
    }
    const images = next.value.map((row) => options.imagesOf(row));
    return { rows: next.value, images, counted: [], preparedTo: 0 };
  };
  let bytesAhead = 0;
  /** Adds the page's rows to the batch until `limit` rows past the cursor are prepared. */
  const fill = (page: Page<Row>, cursor: number, limit: number, batch: ImageReference[]) => {
    // Rows already handed out are not prepared any more (their calls read on demand).
    if (page.preparedTo < cursor) page.preparedTo = cursor;
    while (
      page.preparedTo < page.rows.length &&
      page.preparedTo - cursor < limit &&
      bytesAhead < budget
    ) {
      const at = page.preparedTo;
      const images = page.images[at]!;
      const bytes =
        images.length > 0 && options.eligible(page.rows[at]!)
          ? images.reduce((sum, image) => sum + image.bytes, 0)
          : 0;
      if (bytes > 0) batch.push(...images);
      page.counted[at] = bytes;
      bytesAhead += bytes;
      page.preparedTo++;
    }
  };
  try {
    let next = await read();
    while (next) {
      const page = next;
      if (!page.images.some((images) => images.length > 0) && page.preparedTo === 0) {
        for (const row of page.rows) if (options.eligible(row)) yield row;
        next = await read();
        continue;
      }
      let ahead: Page<Row> | undefined;
      let readAhead = false;
      for (const [index, row] of page.rows.entries()) {
        const window = Math.max(16, options.window());
        const prepared = page.preparedTo - index + (ahead?.preparedTo ?? 0);
        if (prepared < 2 * window) {
          const batch: ImageReference[] = [];
          fill(page, index, 4 * window, batch);
          if (page.preparedTo === page.rows.length) {
            if (!readAhead) {
              readAhead = true;
              ahead = await read();
            }
            // The next page's rows, counted from this row: the cursor is before its start.
            if (ahead) fill(ahead, index - page.rows.length, 4 * window, batch);
          }
          if (batch.length > 0) options.prepare(batch);
        }
        bytesAhead -= page.counted[index] ?? 0;
        if (options.eligible(row)) yield row;
      }
      next = readAhead ? ahead : await read();
    }
  } finally {
    await iterator.return?.();
  }
}
