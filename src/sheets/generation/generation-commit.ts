import type { CellState } from '../sheet-cells.ts';
import type { CellRead, CellWrite, CompareAndSetResult } from '../sheet-data-store.ts';
import type { CellValue } from '../sheet-schema.ts';

/** The fields of a cell write besides row and version (see CellWrite). */
export interface CellChange {
  value?: CellValue;
  state: Partial<Omit<CellState, 'version' | 'updatedAt'>>;
}

export type CommitOutcome =
  /** The `generating` mark was written: the cell shows it is being generated. */
  | { kind: 'marked'; rowId: string }
  /** Someone changed the cell before the mark: it is not ours; the call is cancelled. */
  | { kind: 'mark-lost'; rowId: string }
  /** The result was written. */
  | { kind: 'applied'; rowId: string; value: CellValue; state: CellState; enqueuedAt: number }
  /** The cell moved on while the call was in flight (user edit, validation): result dropped. */
  | { kind: 'conflict'; rowId: string }
  /** The cell is back in its previous state (cancel, pause, shutdown, budget). */
  | { kind: 'restored'; rowId: string };

type WriteKind = 'mark' | 'final' | 'restore';
/** How many times one cell's mark may be retried after a system change (see `begin`). */
const MAX_RETAKES = 3;

interface PendingWrite {
  kind: WriteKind;
  change: CellChange;
  enqueuedAt: number;
}

/** One cell a run is working on, from its `generating` mark to its result or restore. */
export class CellTicket {
  readonly rowId: bigint;
  /** The version the next write expects. */
  version: number;
  pending: PendingWrite | undefined;
  /** A write that waits for the one being flushed (its expected version is not known yet). */
  next: PendingWrite | undefined;
  inFlight = false;
  marked = false;
  lost = false;
  settled = false;
  retakes = 0;
  /** Whether a cell changed since it was read may still be taken (see `begin`). */
  readonly retake: ((current: CellRead) => boolean) | undefined;
  readonly #lostListeners: (() => void)[] = [];

  constructor(rowId: bigint, version: number, retake?: (current: CellRead) => boolean) {
    this.rowId = rowId;
    this.version = version;
    this.retake = retake;
  }

  /** Called (once) if the mark loses its compare-and-set: the caller cancels its call. */
  onLost(listener: () => void): void {
    if (this.lost) listener();
    else this.#lostListeners.push(listener);
  }

  markLost(): void {
    this.lost = true;
    for (const listener of this.#lostListeners.splice(0)) listener();
  }
}

export interface CommitterOptions {
  /** Compare-and-set writes of one column (the sheets service's writeCells). */
  write: (writes: CellWrite[]) => Promise<CompareAndSetResult>;
  /** Longest a write waits before its batch is committed. */
  intervalMs: number;
  /** A batch this large is committed at once. */
  maxBatch?: number;
  onOutcome: (outcome: CommitOutcome) => void;
  /**
   * A write failure that passes (the database's pool ran dry): the batch is written again
   * after `retryDelayMs(failures)` instead of failing the committer. Such a failure must come
   * before anything of the batch is committed (the writer's metadata reads and the staleness
   * record precede the DuckDB compare-and-set), so the same writes at the same versions apply.
   */
  retryable?: (error: unknown) => boolean;
  retryDelayMs?: (failures: number) => number;
  /** Told of each failed write that will be tried again. */
  onRetry?: (error: unknown, failures: number, delayMs: number) => void;
  now?: () => number;
}

/**
 * Commits a run's cell writes in small batches with compare-and-set on each cell's version.
 * Writes gather for at most `intervalMs` (group commit: while one batch is being written the
 * next one gathers), so a result is visible within a few tens of milliseconds and a busy run
 * writes a few batches per second, not one statement per cell.
 *
 * Per cell: `begin` queues the `generating` mark; `finish` queues the result, `restore` the
 * previous status. If the mark is still unwritten when the result comes (a cache hit), the two
 * merge into one write; if the mark lost its compare-and-set, the result is dropped and counted
 * (the user's edit wins); a result that loses its own compare-and-set is dropped and counted too.
 */
export function createCommitter(options: CommitterOptions) {
  const { write, intervalMs, onOutcome } = options;
  const maxBatch = options.maxBatch ?? 1_000;
  const now = options.now ?? Date.now;
  const queued = new Set<CellTicket>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let failure: unknown;
  /** Failed writes in a row that are being tried again (0: none). */
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  const retryWaiters: (() => void)[] = [];
  let idleWaiters: (() => void)[] = [];

  const retakable = (ticket: CellTicket, current: CellRead | undefined) =>
    current !== undefined &&
    ticket.retake !== undefined &&
    ticket.retakes < MAX_RETAKES &&
    ticket.retake(current);

  const settle = (ticket: CellTicket, outcome: CommitOutcome) => {
    ticket.settled = true;
    onOutcome(outcome);
  };

  const schedule = () => {
    if (failure !== undefined || flushing || retryTimer || queued.size === 0) return;
    if (queued.size >= maxBatch) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      void flush();
      return;
    }
    if (timer) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const ticket of queued) oldest = Math.min(oldest, ticket.pending?.enqueuedAt ?? oldest);
    const wait = Math.max(0, intervalMs - (now() - oldest));
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, wait);
  };

  const enqueue = (ticket: CellTicket, pending: PendingWrite) => {
    if (ticket.inFlight) {
      ticket.next = pending;
      return;
    }
    ticket.pending = pending;
    queued.add(ticket);
    schedule();
  };

  /** A batch whose write failed in passing goes back to the queue as it was. */
  const requeue = (batch: readonly CellTicket[]) => {
    for (const ticket of batch) {
      ticket.inFlight = false;
      const next = ticket.next;
      ticket.next = undefined;
      if (next && ticket.pending!.kind === 'mark') {
        // Nothing of ours was written: the result replaces the mark; a restore is moot.
        if (next.kind === 'restore') {
          ticket.pending = undefined;
          settle(ticket, { kind: 'restored', rowId: ticket.rowId.toString() });
          continue;
        }
        ticket.pending = next;
      } else if (next) ticket.next = next;
      queued.add(ticket);
    }
  };

  const flush = async (): Promise<void> => {
    if (flushing || retryTimer || queued.size === 0 || failure !== undefined) return;
    const batch = [...queued].slice(0, maxBatch);
    for (const ticket of batch) {
      queued.delete(ticket);
      ticket.inFlight = true;
    }
    const writes: CellWrite[] = batch.map((ticket) => ({
      rowId: ticket.rowId,
      expectedVersion: ticket.version,
      ...(ticket.pending!.change.value === undefined
        ? {}
        : { value: ticket.pending!.change.value }),
      state: ticket.pending!.change.state,
    }));
    flushing = (async () => {
      let result: CompareAndSetResult;
      try {
        result = await write(writes);
      } catch (error) {
        if (options.retryable?.(error)) {
          failures++;
          requeue(batch);
          const delay = options.retryDelayMs?.(failures) ?? intervalMs;
          options.onRetry?.(error, failures, delay);
          retryTimer = setTimeout(() => {
            retryTimer = undefined;
            for (const resolve of retryWaiters.splice(0)) resolve();
            schedule();
          }, delay);
          return;
        }
        failure = error;
        for (const ticket of batch) ticket.inFlight = false;
        return;
      }
      failures = 0;
      const applied = new Map(result.applied.map((cell) => [cell.rowId, cell]));
      const conflicts = new Map(
        result.conflicts.map((conflict) => [conflict.rowId, conflict.current]),
      );
      for (const ticket of batch) {
        ticket.inFlight = false;
        const pending = ticket.pending!;
        ticket.pending = undefined;
        const rowId = ticket.rowId.toString();
        const cell = applied.get(rowId);
        if (cell) {
          ticket.version = cell.version;
          if (pending.kind === 'mark') {
            ticket.marked = true;
            onOutcome({ kind: 'marked', rowId });
          } else if (pending.kind === 'final') {
            settle(ticket, {
              kind: 'applied',
              rowId,
              value: cell.value,
              state: cell.state,
              enqueuedAt: pending.enqueuedAt,
            });
          } else settle(ticket, { kind: 'restored', rowId });
        } else if (
          (pending.kind === 'mark' || (pending.kind === 'final' && !ticket.marked)) &&
          retakable(ticket, conflicts.get(rowId))
        ) {
          // Changed by the system (e.g. marked stale), not by a person, before anything of
          // ours was written: take it at its new version.
          ticket.retakes++;
          ticket.version = conflicts.get(rowId)!.state.version;
          const next = ticket.next;
          ticket.next = undefined;
          // A result replaces the mark; a restore is moot (nothing of ours was written).
          if (next?.kind === 'restore') settle(ticket, { kind: 'restored', rowId });
          else enqueue(ticket, next ?? pending);
          continue;
        } else if (pending.kind === 'mark') {
          ticket.markLost();
          onOutcome({ kind: 'mark-lost', rowId });
        } else if (pending.kind === 'final') settle(ticket, { kind: 'conflict', rowId });
        // A restore that lost: someone else wrote the cell meanwhile, which is all we wanted.
        else settle(ticket, { kind: 'restored', rowId });
        const next = ticket.next;
        ticket.next = undefined;
        if (next && !ticket.settled) {
          if (ticket.lost) {
            if (next.kind === 'final') settle(ticket, { kind: 'conflict', rowId });
            else settle(ticket, { kind: 'restored', rowId });
          } else enqueue(ticket, next);
        }
      }
    })();
    await flushing;
    flushing = undefined;
    if (queued.size > 0) schedule();
    else if (failure === undefined) for (const resolve of idleWaiters.splice(0)) resolve();
    if (failure !== undefined) for (const resolve of idleWaiters.splice(0)) resolve();
  };

  return {
    /**
     * Starts work on a cell at the version it was read at; queues its `generating` mark. If the
     * cell changed meanwhile and `retake(current)` says the change was not a person's (a
     * staleness mark: same value, not validated), the mark is retried at the new version.
     */
    begin(
      rowId: bigint,
      version: number,
      mark: CellChange,
      retake?: (current: CellRead) => boolean,
    ): CellTicket {
      const ticket = new CellTicket(rowId, version, retake);
      enqueue(ticket, { kind: 'mark', change: mark, enqueuedAt: now() });
      return ticket;
    },

    /** Queues the cell's result. */
    finish(ticket: CellTicket, change: CellChange): void {
      if (ticket.settled) return;
      if (ticket.lost) {
        settle(ticket, { kind: 'conflict', rowId: ticket.rowId.toString() });
        return;
      }
      const pending: PendingWrite = { kind: 'final', change, enqueuedAt: now() };
      // Mark not yet written: write the result instead (one write, same expected version).
      if (!ticket.inFlight && ticket.pending?.kind === 'mark') ticket.pending = pending;
      else enqueue(ticket, pending);
      schedule();
    },

    /** Puts the cell back as it was before the mark (the value was never touched). */
    restore(ticket: CellTicket, previous: CellChange): void {
      if (ticket.settled) return;
      const rowId = ticket.rowId.toString();
      if (ticket.lost) {
        settle(ticket, { kind: 'restored', rowId });
        return;
      }
      if (!ticket.inFlight && ticket.pending?.kind === 'mark') {
        // Never written: nothing to undo.
        queued.delete(ticket);
        ticket.pending = undefined;
        settle(ticket, { kind: 'restored', rowId });
        if (queued.size === 0 && !flushing) for (const resolve of idleWaiters.splice(0)) resolve();
        return;
      }
      enqueue(ticket, { kind: 'restore', change: previous, enqueuedAt: now() });
    },

    /** Writes everything queued now and waits until nothing is pending; throws a write failure. */
    async drain(): Promise<void> {
      while (failure === undefined && (queued.size > 0 || flushing)) {
        if (timer) {
          clearTimeout(timer);
          timer = undefined;
        }
        if (flushing) await flushing;
        else if (retryTimer) await new Promise<void>((resolve) => retryWaiters.push(resolve));
        else await flush();
      }
      if (failure !== undefined) throw failure;
    },

    /** Resolves when no write is queued or being written. */
    idle(): Promise<void> {
      if (queued.size === 0 && !flushing) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },

    get failure(): unknown {
      return failure;
    },

    get pending(): number {
      return queued.size;
    },

    close(): void {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      for (const resolve of retryWaiters.splice(0)) resolve();
      idleWaiters = [];
    },
  };
}

export type Committer = ReturnType<typeof createCommitter>;
