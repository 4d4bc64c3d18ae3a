import { isDatabaseError, isUniqueViolation, SQLSTATE } from '../platform/db/db-errors.ts';
import { GROUP_LINGER_MS } from '../platform/grouped.ts';
import type { Logger } from '../platform/logger.ts';
import { readSegment, type UsageOutbox } from './llm-usage-outbox.ts';
import type { UsageRow, UsageStore } from './llm-usage-store.ts';

export interface UsageRecorderOptions {
  /** `committedIds` is needed with an outbox (its replay skips rows already written). */
  store: Pick<UsageStore, 'insert'> & Partial<Pick<UsageStore, 'committedIds'>>;
  logger: Logger;
  /**
   * Rows in the outbox are committed at most this long after they were added; after a
   * refused write, rows are tried again this long after (at least 1 s).
   */
  flushMs: number;
  /** Rows per write (one statement with their rollup) at most. */
  maxBatch?: number;
  /** Rows kept while the database refuses writes; the oldest are dropped (and logged) past it. */
  maxBuffered?: number;
  /**
   * The data dir's usage outbox (embedded PGlite only): rows added with `outbox` durability
   * are appended to it and the call goes on; segments a dead process left are replayed.
   */
  outbox?: UsageOutbox | undefined;
}

/**
 * When a usage row is safe, relative to the answer of its call:
 * - `database` (default): committed to the database before `add()` resolves;
 * - `outbox`: appended to the outbox file before `add()` resolves, committed with the next
 *   batch (within `flushMs`); a crash in between loses nothing (the next start replays it).
 *   Without an outbox (PostgreSQL), the same as `database`.
 */
export type UsageDurability = 'database' | 'outbox';

/**
 * Features whose usage rows another module reads straight from the tables, without asking this
 * module to flush first: their rows stay committed before the answer. Chat sums a thread's and
 * an agent's costs from `llm_calls` (src/chat/chat-store.ts) right after a reply.
 */
const READ_DIRECTLY: ReadonlySet<string> = new Set(['chat']);

/**
 * A call's durability when it asks for none: `outbox` (appended to the outbox file before the
 * answer, committed with the next batch; on PostgreSQL, where there is no outbox, the same as
 * `database`), except for features whose rows are read straight from the tables.
 */
export function defaultDurability(feature: string): UsageDurability {
  return READ_DIRECTLY.has(feature) ? 'database' : 'outbox';
}

interface Pending {
  row: UsageRow;
  /** Settles the `add()` promise: the row is in the database, or kept here after a refusal. */
  settle: () => void;
  /** The outbox segment that holds the row, deleted once all its rows are committed. */
  segment?: string | undefined;
}

const settled = () => {};

/**
 * Writes usage rows before the call that made them is answered, with group commit: a row is
 * written at once when no write is under way; rows that arrive during a write go together in
 * the next one, so a busy server still writes a few large statements (rows + rollup), not one
 * per call. `add()` resolves once its row is committed, and the call service waits for it
 * before it hands back the answer — a server killed after answering has lost no row
 * (docs/llm.md, "Usage rows and crashes").
 * With an outbox, a row added with `outbox` durability is appended to the outbox file and
 * `add()` resolves at once; such rows are committed in one batch per `flushMs` (or per
 * `maxBatch` rows), and the segment holding them is deleted once they all are.
 * A refused write keeps its rows (and lets their callers go on: a database outage must not
 * stall every call) and tries again after `flushMs`; `close()` writes what is left.
 */
export class UsageRecorder {
  #buffer: Pending[] = [];
  #retryTimer: NodeJS.Timeout | undefined;
  #batchTimer: NodeJS.Timeout | undefined;
  /** A row that may linger is waiting for company (see `add`). */
  #lingerTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  /**
   * A write loop is running and will take rows added now. Set and cleared by the loop itself,
   * in the same turn as its last look at the buffer: `#flushing` is cleared only a few
   * microtasks later, and a row added in between (by a caller its write just answered) would
   * find a write "under way" that will never take it.
   */
  #writing = false;
  #closed = false;
  readonly #options: Required<Omit<UsageRecorderOptions, 'outbox'>>;
  readonly #outbox: UsageOutbox | undefined;
  /** Rows of each outbox segment not committed yet; a sealed segment at 0 is deleted. */
  readonly #outstanding = new Map<string, number>();
  readonly #sealed = new Set<string>();
  /** Segments a previous process left, read back (and their committed rows skipped). */
  readonly #replayed: Promise<void>;

  constructor(options: UsageRecorderOptions) {
    const { outbox, ...rest } = options;
    this.#options = { maxBatch: 500, maxBuffered: 100_000, ...rest };
    this.#outbox = outbox;
    // Listed now, before this process appends anything: every segment here is a dead one's.
    const left = outbox?.segments() ?? [];
    this.#replayed = left.length === 0 ? Promise.resolve() : this.#replay(left);
    if (left.length > 0) void this.#replayed.then(() => this.flush());
  }

  get pending(): number {
    return this.#buffer.length;
  }

  /**
   * Resolves when the row is safe: in the database (or kept for a retry after a refused
   * write), or with `outbox` durability, in the outbox file. `linger`: a run's row, which may
   * wait GROUP_LINGER_MS for others to share its statement.
   */
  add(row: UsageRow, durability: UsageDurability = 'database', linger = false): Promise<void> {
    if (durability === 'outbox' && this.#outbox && this.#addToOutbox(row, this.#outbox))
      return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#push({ row, settle: resolve });
      // The database is refusing writes: the row waits for the retry, its caller does not.
      if (this.#retryTimer) resolve();
      else if (this.#writing) return;
      // A run's row (`linger`) waits GROUP_LINGER_MS for the rows of the calls ending
      // meanwhile; a row that may not wait takes the lingering ones along at once.
      else if (linger && this.#buffer.length < this.#options.maxBatch) this.#lingerFlush();
      else void this.flush();
    });
  }

  #lingerFlush(): void {
    if (this.#lingerTimer) return;
    this.#lingerTimer = setTimeout(() => {
      this.#lingerTimer = undefined;
      if (!this.#writing) void this.flush();
    }, GROUP_LINGER_MS);
  }

  /** Appends to the outbox; false when the file could not be written (the row then waits for the database). */
  #addToOutbox(row: UsageRow, outbox: UsageOutbox): boolean {
    let segment: string;
    try {
      segment = outbox.append(row);
    } catch (error) {
      this.#options.logger.error(
        { err: error },
        'llm usage outbox write failed; committing at once',
      );
      return false;
    }
    this.#outstanding.set(segment, (this.#outstanding.get(segment) ?? 0) + 1);
    this.#push({ row, settle: settled, segment });
    if (this.#buffer.length >= this.#options.maxBatch) {
      if (!this.#retryTimer && !this.#writing) void this.flush();
    } else if (!this.#batchTimer && !this.#retryTimer) {
      this.#batchTimer = setTimeout(() => {
        this.#batchTimer = undefined;
        void this.flush();
      }, this.#options.flushMs);
      this.#batchTimer.unref();
    }
    return true;
  }

  #push(entry: Pending): void {
    this.#buffer.push(entry);
    if (this.#buffer.length > this.#options.maxBuffered) {
      const dropped = this.#buffer.splice(0, this.#buffer.length - this.#options.maxBuffered);
      for (const entry of dropped) entry.settle();
      // Rows in the outbox stay in their segment (never deleted now): the next start has them.
      const kept = dropped.filter((entry) => entry.segment !== undefined).length;
      this.#options.logger.error(
        { dropped: dropped.length - kept, keptInOutbox: kept },
        'llm usage rows dropped: the database has refused writes for too long',
      );
    }
  }

  /** Writes everything buffered so far; resolves when it is in the database (or failed). */
  async flush(): Promise<void> {
    await this.#replayed;
    while (this.#flushing) await this.#flushing;
    if (this.#buffer.length === 0) return;
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    if (this.#batchTimer) {
      clearTimeout(this.#batchTimer);
      this.#batchTimer = undefined;
    }
    if (this.#lingerTimer) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
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
    this.#writing = true;
    try {
      await this.#writeBatches();
    } finally {
      this.#writing = false;
    }
  }

  /** Clears `#writing` itself, in the turn of its last look at the buffer (see `#writing`). */
  async #writeBatches(): Promise<void> {
    // Rows added while a batch is written go in the next batch of this same run.
    while (this.#buffer.length > 0) {
      this.#sealSegment();
      const batch = this.#buffer.splice(0, this.#options.maxBatch);
      try {
        await this.#insert(batch);
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
        this.#writing = false;
        return;
      }
      for (const entry of batch) {
        entry.settle();
        if (entry.segment !== undefined) this.#committed(entry.segment);
      }
    }
    this.#writing = false;
  }

  /**
   * One statement for the batch. A row the database refuses for ever would hold the whole
   * batch back: then each row is written alone. A row already there (its id: written by an
   * earlier try whose answer was lost) is skipped; a row whose project or user was deleted
   * while it waited is dropped, as the cascade would have deleted it (logged). Any other
   * failure is the database's: the batch is tried again later.
   */
  async #insert(batch: readonly Pending[]): Promise<void> {
    const { store, logger } = this.#options;
    const refusedForEver = (error: unknown) =>
      isDatabaseError(error, SQLSTATE.foreignKeyViolation) || isUniqueViolation(error);
    try {
      await store.insert(batch.map((entry) => entry.row));
      return;
    } catch (error) {
      if (!refusedForEver(error)) throw error;
    }
    for (const entry of batch) {
      try {
        await store.insert([entry.row]);
      } catch (error) {
        if (isUniqueViolation(error)) continue;
        if (!isDatabaseError(error, SQLSTATE.foreignKeyViolation)) throw error;
        logger.warn(
          { err: error, id: entry.row.id, projectId: entry.row.projectId },
          'llm usage row dropped: its project or user no longer exists',
        );
      }
    }
  }

  /** New outbox rows go to a new segment, so the current one can be deleted once written. */
  #sealSegment(): void {
    const segment = this.#outbox?.seal();
    if (segment === undefined) return;
    this.#sealed.add(segment);
    if (!this.#outstanding.has(segment)) this.#release(segment);
  }

  #committed(segment: string): void {
    const left = (this.#outstanding.get(segment) ?? 1) - 1;
    if (left > 0) {
      this.#outstanding.set(segment, left);
      return;
    }
    this.#outstanding.delete(segment);
    if (this.#sealed.has(segment)) this.#release(segment);
  }

  #release(segment: string): void {
    this.#sealed.delete(segment);
    try {
      this.#outbox?.release(segment);
    } catch (error) {
      // Its rows are committed: a next start reads them again and skips them.
      this.#options.logger.warn({ err: error, segment }, 'llm usage outbox segment not deleted');
    }
  }

  /**
   * Reads back the segments a previous process left: rows the database already has (the
   * process died after committing them, before deleting the file) are skipped, the others
   * buffered to be written like new ones. A segment that cannot be read is left for the next
   * start.
   */
  async #replay(segments: readonly string[]): Promise<void> {
    for (const segment of segments) {
      try {
        const { rows, unreadable } = readSegment(segment);
        if (unreadable > 0)
          this.#options.logger.warn(
            { segment, unreadable },
            'llm usage outbox: lines cut short were skipped',
          );
        const committed =
          (await this.#options.store.committedIds?.(rows.map((row) => row.id))) ?? new Set();
        const missing = rows.filter((row) => !committed.has(row.id));
        this.#sealed.add(segment);
        if (missing.length === 0) {
          this.#release(segment);
          continue;
        }
        this.#outstanding.set(segment, missing.length);
        for (const row of missing) this.#push({ row, settle: settled, segment });
        this.#options.logger.info(
          { segment, rows: missing.length },
          'llm usage outbox: rows of a stopped process replayed',
        );
      } catch (error) {
        this.#options.logger.error(
          { err: error, segment },
          'llm usage outbox segment could not be replayed; kept for the next start',
        );
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.flush();
    this.#outbox?.close();
  }
}
