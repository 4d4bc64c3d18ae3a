import { type FSWatcher, watch } from 'node:fs';
import { createDebouncer } from './monitor-debounce.ts';
import type { ImportResult } from './monitor-import.ts';

/**
 * Live ingest: the bulk import, run again whenever something under the folder changes. One
 * code path for correctness — each cycle is an incremental import (unchanged files skipped by
 * size, mtime and hash; changed ones replaced in one transaction), so a create, a write, a
 * move (the old path departs, its rows are kept and counted once) or a delete all end in the
 * same state as a fresh bulk import. A reconcile at start picks up what was written while
 * nothing watched, and a periodic one catches events the OS dropped and retries failed files.
 */

export type WatchReason = 'start' | 'change' | 'reconcile';

export interface WatchCycle {
  reason: WatchReason;
  result: ImportResult;
}

export interface WatchOptions {
  /** One incremental import of the watched folder. */
  run: (reason: WatchReason) => Promise<ImportResult>;
  root: string;
  /** Quiet time after the last change before a cycle (editors and agents write in bursts). */
  debounceMs?: number;
  /** The longest a change waits for its cycle while changes keep coming (monitor-debounce.ts). */
  maxWaitMs?: number;
  /** Full reconcile interval. */
  reconcileMs?: number;
  onCycle: (cycle: WatchCycle) => void;
  onError: (error: unknown) => void;
  /**
   * Called once the folder has been quiet for `idleMs` after a cycle (no file event, no cycle
   * running or waiting): the moment for work that would delay a cycle, such as DuckDB's
   * checkpoint (a commit made while one runs waits for it).
   */
  onIdle?: () => void;
  /** Quiet time after a cycle before `onIdle`. */
  idleMs?: number;
}

export interface Watch {
  close(): Promise<void>;
}

/** Temporary files some writers rename into place: the rename is the event that matters. */
const IGNORED = /(\.tmp|~|\.swp|-journal|-shm)$/;

export function startWatch(options: WatchOptions): Watch {
  const debounceMs = options.debounceMs ?? 300;
  const maxWaitMs = options.maxWaitMs ?? 1_000;
  const reconcileMs = options.reconcileMs ?? 60_000;
  let closed = false;
  let running: Promise<void> | undefined;
  let pending: WatchReason | undefined;
  const idle = createDebouncer({
    quietMs: options.idleMs ?? 2_000,
    maxWaitMs: options.idleMs ?? 2_000,
    run: () => {
      if (!closed && !running) options.onIdle?.();
    },
  });

  const cycle = (reason: WatchReason): Promise<void> => {
    if (closed) return Promise.resolve();
    if (running) {
      // One more cycle after this one covers everything that happened meanwhile.
      pending = pending === 'change' || reason === 'change' ? 'change' : reason;
      return running;
    }
    idle.cancel();
    running = (async () => {
      try {
        const result = await options.run(reason);
        if (!closed) options.onCycle({ reason, result });
      } catch (error) {
        if (!closed) options.onError(error);
      } finally {
        running = undefined;
        const next = pending;
        pending = undefined;
        if (next && !closed) void cycle(next);
        else if (!closed && options.onIdle) idle.touch();
      }
    })();
    return running;
  };

  const debounce = createDebouncer({
    quietMs: debounceMs,
    maxWaitMs: Math.max(debounceMs, maxWaitMs),
    run: () => void cycle('change'),
  });
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(options.root, { recursive: true, persistent: true }, (_event, name) => {
      if (name && IGNORED.test(String(name))) return;
      idle.cancel();
      debounce.touch();
    });
    watcher.on('error', (error) => options.onError(error));
  } catch (error) {
    // No file events (a network file system, a watch limit): the reconciles still run.
    options.onError(error);
  }
  const reconciler = setInterval(() => void cycle('reconcile'), reconcileMs);
  reconciler.unref();
  void cycle('start');

  return {
    async close() {
      closed = true;
      debounce.cancel();
      idle.cancel();
      clearInterval(reconciler);
      watcher?.close();
      await running;
    },
  };
}
