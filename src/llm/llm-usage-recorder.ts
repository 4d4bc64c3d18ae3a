import type { Logger } from '../platform/logger.ts';
import type { UsageRow, UsageStore } from './llm-usage-store.ts';

export interface UsageRecorderOptions {
  store: Pick<UsageStore, 'insert'>;
  logger: Logger;
  /** After a refused write, the rows are tried again this long after (at least 1 s). */
  flushMs: number;
  /** Rows per write (one statement with their rollup) at most. */
  maxBatch?: number;
  /** Rows kept while the database refuses writes; the oldest are dropped (and logged) past it. */
  maxBuffered?: number;
}

interface Pending {
  row: UsageRow;
  /** Settles the `add()` promise: the row is in the database, or kept here after a refusal. */
  settle: () => void;
}

/**
 * Writes usage rows before the call that made them is answered, with group commit: a row is
 * written at once when no write is under way; rows that arrive during a write go together in
 * the next one, so a busy server still writes a few large statements (rows + rollup), not one
 * per call. `add()` resolves once its row is committed, and the call service waits for it
 * before it hands back the answer — a server killed after answering has lost no row
 * (docs/llm.md, "Usage rows and crashes").
 * A refused write keeps its rows (and lets their callers go on: a database outage must not
 * stall every call) and tries again after `flushMs`; `close()` writes what is left.
 */
export class UsageRecorder {
  #buffer: Pending[] = [];
  #retryTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;
  readonly #options: Required<UsageRecorderOptions>;

  constructor(options: UsageRecorderOptions) {
    this.#options = { maxBatch: 500, maxBuffered: 100_000, ...options };
  }

  get pending(): number {
    return this.#buffer.length;
  }

  /** Resolves when the row is in the database (or kept for a retry after a refused write). */
  add(row: UsageRow): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#buffer.push({ row, settle: resolve });
      if (this.#buffer.length > this.#options.maxBuffered) {
        const dropped = this.#buffer.splice(0, this.#buffer.length - this.#options.maxBuffered);
        for (const entry of dropped) entry.settle();
        this.#options.logger.error(
          { dropped: dropped.length },
          'llm usage rows dropped: the database has refused writes for too long',
        );
      }
      // The database is refusing writes: the row waits for the retry, its caller does not.
      if (this.#retryTimer) resolve();
      else if (!this.#flushing) void this.flush();
    });
  }

  /** Writes everything buffered so far; resolves when it is in the database (or failed). */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#buffer.length === 0) return;
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
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
    // Rows added while a batch is written go in the next batch of this same run.
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.splice(0, this.#options.maxBatch);
      try {
        await this.#options.store.insert(batch.map((entry) => entry.row));
      } catch (error) {
        this.#buffer.unshift(...batch);
        for (const entry of this.#buffer) entry.settle();
        this.#options.logger.error(
          { err: error, rows: batch.length },
          'llm usage write failed; will retry',
        );
        if (!this.#closed && !this.#retryTimer) {
          this.#retryTimer = setTimeout(
            () => {
              this.#retryTimer = undefined;
              void this.flush();
            },
            Math.max(1_000, this.#options.flushMs),
          );
          this.#retryTimer.unref();
        }
        return;
      }
      for (const entry of batch) entry.settle();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.flush();
  }
}
