import type { Logger } from '../platform/logger.ts';
import type { UsageRow, UsageStore } from './llm-usage-store.ts';

export interface UsageRecorderOptions {
  store: Pick<UsageStore, 'insert'>;
  logger: Logger;
  /** A batch is written at least this often. */
  flushMs: number;
  /** …or as soon as it holds this many rows. */
  maxBatch?: number;
  /** Rows kept while the database refuses writes; the oldest are dropped (and logged) past it. */
  maxBuffered?: number;
}

/**
 * Batches usage rows: one transaction per batch (rows + rollup) instead of one per call.
 * A failed write keeps its rows for the next flush, so a database blip loses nothing;
 * `close()` writes what is left.
 */
export class UsageRecorder {
  #buffer: UsageRow[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;
  readonly #options: Required<UsageRecorderOptions>;

  constructor(options: UsageRecorderOptions) {
    this.#options = { maxBatch: 500, maxBuffered: 100_000, ...options };
  }

  get pending(): number {
    return this.#buffer.length;
  }

  add(row: UsageRow): void {
    this.#buffer.push(row);
    if (this.#buffer.length > this.#options.maxBuffered) {
      const dropped = this.#buffer.splice(0, this.#buffer.length - this.#options.maxBuffered);
      this.#options.logger.error(
        { dropped: dropped.length },
        'llm usage rows dropped: the database has refused writes for too long',
      );
    }
    if (this.#buffer.length >= this.#options.maxBatch) void this.flush();
    else if (!this.#timer && !this.#closed) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#options.flushMs);
      this.#timer.unref();
    }
  }

  /** Writes everything buffered so far; resolves when it is in the database (or failed). */
  async flush(): Promise<void> {
    if (this.#flushing) {
      await this.#flushing;
      if (this.#buffer.length === 0) return;
    }
    if (this.#buffer.length === 0) return;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const run = this.#writeAll();
    this.#flushing = run;
    try {
      await run;
    } finally {
      if (this.#flushing === run) this.#flushing = undefined;
    }
  }

  async #writeAll(): Promise<void> {
    // Only what was buffered when the flush began: rows added meanwhile wait for the next
    // timer, so a busy process writes a few large batches, not a stream of tiny ones.
    let remaining = this.#buffer.length;
    while (remaining > 0 && this.#buffer.length > 0) {
      const batch = this.#buffer.splice(0, Math.min(remaining, this.#options.maxBatch));
      remaining -= batch.length;
      try {
        await this.#options.store.insert(batch);
      } catch (error) {
        this.#buffer.unshift(...batch);
        this.#options.logger.error(
          { err: error, rows: batch.length },
          'llm usage write failed; will retry',
        );
        if (!this.#closed && !this.#timer) {
          this.#timer = setTimeout(
            () => {
              this.#timer = undefined;
              void this.flush();
            },
            Math.max(1_000, this.#options.flushMs),
          );
          this.#timer.unref();
        }
        return;
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
