import { existsSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { serviceUnavailable } from '../app-error.ts';
import { createIdleBound } from '../idle-bound.ts';
import { identifierFor, quoteIdentifier } from './duckdb-identifiers.ts';

/**
 * Where each dataset's values live: a DuckDB file of its own, `<dir>/<dataset id>.duckdb`,
 * attached to the process's one instance on first use under the catalog `ds_<hex>` (so a
 * dataset can move between servers sharing the folder, one owner at a time; see
 * docs/decisions/2026-12-06-dataset-ownership.md). `dir` ':memory:' attaches in-memory
 * catalogs instead (tests, the monitor's in-memory instance).
 */
export interface DatasetFiles {
  /** The folder of the dataset files, or ':memory:'. */
  readonly dir: string;
  /**
   * Attaches the dataset's file once its owner check passes; a no-op when attached. Every
   * query naming a dataset's table runs after this. A missing file is an error ("does not
   * exist", as for a missing table) unless `create` (a new table is about to be made).
   */
  open(datasetId: string, options?: { create?: boolean }): Promise<void>;
  /** Refuses a write when this server may no longer write the dataset (its lease is gone). */
  checkWrite(datasetId: string): void;
  /**
   * Keeps the dataset attached until the returned release is called (a run, a write, an
   * export): the bound on attached files (`maxAttached`) never detaches a held dataset.
   */
  hold(datasetId: string): () => void;
  /** Detaches the dataset's file (its lease lost, or the server stopping); no-op when not attached. */
  detach(datasetId: string): Promise<void>;
  /** Detaches the dataset and deletes its file: the dataset is gone. */
  remove(datasetId: string): Promise<void>;
  /** Dataset ids attached now. */
  attached(): string[];
  /** The instance closed (its files with it): forget them. */
  forgetAll(): void;
  /**
   * Calls `listener` after a dataset's file is detached: whatever was cached of it may be
   * stale by the time it is attached again (another server may have written it meanwhile).
   */
  onDetach(listener: (datasetId: string) => void): void;
  /**
   * Decides who may attach and write (the ownership lease, src/platform/datasets/). Without
   * one, this process owns every dataset (a single server on its own files).
   */
  setGuard(guard: DatasetGuard | undefined): void;
}

/** The owner check DatasetFiles asks before attaching and before each write. */
export interface DatasetGuard {
  /** Resolves once this server holds the dataset; throws when another server owns it. */
  claim(datasetId: string): Promise<void>;
  /** Throws when this server may not write the dataset now. */
  checkWrite(datasetId: string): void;
  /** The dataset is gone (its file deleted): nobody needs to hold it any more. */
  release(datasetId: string): Promise<void>;
}

/** The catalog a dataset's file is attached as (its table inside is named the same). */
export const datasetCatalog = (datasetId: string) => identifierFor('ds', datasetId);

export function datasetFilePath(dir: string, datasetId: string): string {
  identifierFor('ds', datasetId); // refuses anything but a UUID before it reaches a path
  return path.join(dir, `${datasetId}.duckdb`);
}

const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * Files attached by any instance of this process. The OS lock DuckDB takes on a file keeps a
 * second process out, but not a second instance in the same process (tests run several
 * "servers" in one): this set does that, so one process behaves like several would.
 */
const ATTACHED_IN_PROCESS = new Set<string>();

/** Attached dataset files kept at most, by default (BRAINCELLS_DUCKDB_MAX_ATTACHED). */
export const DEFAULT_MAX_ATTACHED = 500;
/**
 * A dataset opened this recently is in use (a read between its `open` and its last query, which
 * names the catalog without holding it); only datasets idle longer are detached by the bound.
 */
export const ATTACHED_IDLE_MS = 5 * 60_000;

export function createDatasetFiles(options: {
  dir: string;
  run: (sql: string) => Promise<unknown>;
  /**
   * Attached files kept at most: past it, the least recently used idle datasets (not held, not
   * opened for `idleMs`) are detached, and attached again on their next use. A soft bound:
   * while more than this are in use, more stay attached.
   */
  maxAttached?: number;
  idleMs?: number;
  /** The clock (tests pass a fake one). */
  now?: () => number;
}): DatasetFiles {
  const { dir, run } = options;
  const maxAttached = options.maxAttached ?? DEFAULT_MAX_ATTACHED;
  const idleMs = options.idleMs ?? ATTACHED_IDLE_MS;
  const now = options.now ?? Date.now;
  if (dir !== ':memory:') mkdirSync(dir, { recursive: true });
  /** Dataset id → its ATTACH (settled or in flight). */
  const attaching = new Map<string, Promise<void>>();
  /** When each dataset was last opened or released, and the holds on it. */
  const bound = createIdleBound({ max: maxAttached, idleMs, now });
  const { touch } = bound;
  /** Dataset id → its DETACH in flight: an open waits for it, then attaches again. */
  const detaching = new Map<string, Promise<void>>();
  let guard: DatasetGuard | undefined;
  const detachListeners: ((datasetId: string) => void)[] = [];

  const handingOver = (datasetId: string) =>
    serviceUnavailable('The dataset is being handed over between servers; try again', {
      datasetId,
    });
  const attach = async (datasetId: string, create: boolean) => {
    const target = dir === ':memory:' ? ':memory:' : path.resolve(datasetFilePath(dir, datasetId));
    if (target !== ':memory:') {
      if (!create && !existsSync(target))
        throw new Error(`The table of dataset ${datasetId} does not exist (no file)`);
      if (ATTACHED_IN_PROCESS.has(target)) throw handingOver(datasetId);
      ATTACHED_IN_PROCESS.add(target);
    }
    try {
      await run(
        `attach if not exists ${sqlString(target)} as ${quoteIdentifier(datasetCatalog(datasetId))}`,
      );
    } catch (error) {
      // Another process still has the file open (an owner whose lease lapsed but who has not
      // closed it yet): a moment later it will have.
      ATTACHED_IN_PROCESS.delete(target);
      if (/lock/i.test(String((error as Error).message))) throw handingOver(datasetId);
      throw error;
    }
  };
  const unregister = (datasetId: string) => {
    if (dir !== ':memory:')
      ATTACHED_IN_PROCESS.delete(path.resolve(datasetFilePath(dir, datasetId)));
  };

  const detachNow = async (datasetId: string) => {
    const pending = attaching.get(datasetId);
    if (!pending) return;
    attaching.delete(datasetId);
    bound.forget(datasetId);
    try {
      await pending;
    } catch {
      return; // never attached
    }
    await run(`detach database if exists ${quoteIdentifier(datasetCatalog(datasetId))}`);
    unregister(datasetId);
    for (const listener of detachListeners) listener(datasetId);
  };
  const detach = (datasetId: string, after?: () => Promise<void>): Promise<void> => {
    const running = detaching.get(datasetId);
    if (running) return running;
    if (!attaching.has(datasetId)) return Promise.resolve();
    const done = detachNow(datasetId)
      .then(after)
      .finally(() => detaching.delete(datasetId));
    detaching.set(datasetId, done);
    return done;
  };

  /** Detaches the least recently used idle datasets while more than `maxAttached` are attached. */
  const evictIdle = () => {
    const idle = bound.idle(
      attaching.size,
      (datasetId) => !attaching.has(datasetId) || detaching.has(datasetId),
    );
    for (const datasetId of idle) {
      // Its lease is given up too (another server may take it at once; the next use here
      // claims it again). A failed DETACH leaves the file attached; the next eviction retries.
      void detach(datasetId, async () => {
        await guard?.release(datasetId);
      }).catch(() => {});
    }
  };

  return {
    dir,
    async open(datasetId, options) {
      // After a DETACH in flight (and the lease it gives up), claimed and attached again.
      for (let running = detaching.get(datasetId); running; running = detaching.get(datasetId))
        await running.catch(() => {});
      touch(datasetId); // used now: not idle, so no eviction picks it meanwhile
      if (guard)
        await guard.claim(datasetId).catch((error: unknown) => {
          if (!attaching.has(datasetId)) bound.forget(datasetId); // another server's
          throw error;
        });
      let pending = attaching.get(datasetId);
      if (!pending) {
        pending = attach(datasetId, options?.create === true);
        attaching.set(datasetId, pending);
        pending.then(evictIdle, () => {
          if (attaching.get(datasetId) === pending) {
            attaching.delete(datasetId);
            bound.forget(datasetId);
          }
        });
      }
      try {
        await pending;
      } catch (error) {
        // No file (the dataset was dropped — a background step of it ran after its table
        // went): claimed for nothing, so the lease goes too, or this server would renew it
        // for as long as it runs.
        if (
          !options?.create &&
          dir !== ':memory:' &&
          !attaching.has(datasetId) &&
          !existsSync(datasetFilePath(dir, datasetId))
        )
          await guard?.release(datasetId).catch(() => {});
        throw error;
      }
    },
    hold(datasetId) {
      bound.hold(datasetId);
      touch(datasetId);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        bound.release(datasetId);
        if (attaching.has(datasetId)) touch(datasetId);
      };
    },
    checkWrite(datasetId) {
      guard?.checkWrite(datasetId);
    },
    detach,
    async remove(datasetId) {
      await detach(datasetId);
      if (dir !== ':memory:') {
        const file = datasetFilePath(dir, datasetId);
        await Promise.all([rm(file, { force: true }), rm(`${file}.wal`, { force: true })]);
      }
      await guard?.release(datasetId);
    },
    attached: () => [...attaching.keys()],
    forgetAll() {
      for (const datasetId of attaching.keys()) unregister(datasetId);
      attaching.clear();
      bound.forgetAll();
    },
    onDetach(listener) {
      detachListeners.push(listener);
    },
    setGuard(next) {
      guard = next;
    },
  };
}
