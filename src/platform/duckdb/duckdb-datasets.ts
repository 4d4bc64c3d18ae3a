import { existsSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { serviceUnavailable } from '../app-error.ts';
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

export function createDatasetFiles(options: {
  dir: string;
  run: (sql: string) => Promise<unknown>;
}): DatasetFiles {
  const { dir, run } = options;
  if (dir !== ':memory:') mkdirSync(dir, { recursive: true });
  /** Dataset id → its ATTACH (settled or in flight). */
  const attaching = new Map<string, Promise<void>>();
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

  const detach = async (datasetId: string) => {
    const pending = attaching.get(datasetId);
    if (!pending) return;
    attaching.delete(datasetId);
    try {
      await pending;
    } catch {
      return; // never attached
    }
    await run(`detach database if exists ${quoteIdentifier(datasetCatalog(datasetId))}`);
    unregister(datasetId);
    for (const listener of detachListeners) listener(datasetId);
  };

  return {
    dir,
    async open(datasetId, options) {
      if (guard) await guard.claim(datasetId);
      let pending = attaching.get(datasetId);
      if (!pending) {
        pending = attach(datasetId, options?.create === true);
        attaching.set(datasetId, pending);
        pending.catch(() => {
          if (attaching.get(datasetId) === pending) attaching.delete(datasetId);
        });
      }
      await pending;
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
    },
    onDetach(listener) {
      detachListeners.push(listener);
    },
    setGuard(next) {
      guard = next;
    },
  };
}
