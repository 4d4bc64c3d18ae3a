import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { createDatasetFiles, type DatasetFiles, datasetCatalog } from './duckdb-datasets.ts';
import { quoteIdentifier } from './duckdb-identifiers.ts';
import { createDuckDbSandbox, type DuckDbSandbox } from './duckdb-sandbox.ts';

export type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';

export interface DuckDbOptions {
  /** A file path, or ':memory:'. */
  path: string;
  threads?: number | undefined;
  memoryLimit?: string | undefined;
  /** Connections opened once at start and lent out; never one per operation. */
  connections?: number;
  /** Limits of the processes user-written SQL runs in (see duckdb-sandbox.ts). */
  sandbox?: { memoryBytes?: number; processes?: number };
  /**
   * The folder of the per-dataset files (duckdb-datasets.ts); default `datasets` beside the
   * file, or in-memory catalogs for ':memory:'.
   */
  datasetsDir?: string;
  /**
   * DuckDB's `wal_autocheckpoint`: the WAL size past which a commit checkpoints inline (and
   * every commit made meanwhile waits for it). Default 256 MiB, not DuckDB's 16 MiB: writers
   * that write steadily (the monitor's watch) checkpoint when idle instead (`checkpointSoon`),
   * so the inline one is only the bound.
   */
  walAutocheckpoint?: string;
  /** Dataset files kept attached at most (duckdb-datasets.ts `maxAttached`). */
  maxAttached?: number;
}

/** See DuckDbOptions.walAutocheckpoint. */
export const DEFAULT_WAL_AUTOCHECKPOINT = '256MiB';

/**
 * The one long-lived DuckDB instance of the process. Work borrows a connection from a fixed
 * pool (a connection runs one statement at a time; a few let reads overlap a long write).
 */
export interface DuckDb {
  readonly path: string;
  /** DuckDB's worker threads (the `threads` option, else the machine's cores). */
  readonly threads: number;
  /**
   * Where user-written SQL (read-only queries, formulas) runs: never on this instance, which
   * holds every dataset and reads the data dir, but in a separate locked-down process.
   */
  readonly sandbox: DuckDbSandbox;
  /** Each dataset's own file, attached on first use: open it before naming its table. */
  readonly datasets: DatasetFiles;
  withConnection<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T>;
  /**
   * Up to `count` connections at once, for work that splits over them (a large import). The
   * first is waited for; the others are taken only while another stays idle for everyone else.
   */
  withConnections<T>(
    count: number,
    work: (connections: DuckDBConnection[]) => Promise<T>,
  ): Promise<T>;
  /** Rows as plain JS objects (BIGINT → bigint, DATE/TIMESTAMP → DuckDB value objects). */
  query<T = Record<string, unknown>>(sql: string, params?: DuckDBValue[]): Promise<T[]>;
  /** Runs a statement; returns the number of rows it changed. */
  run(sql: string, params?: DuckDBValue[]): Promise<number>;
  /** BEGIN … COMMIT on one connection; ROLLBACK if `work` throws. */
  transaction<T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T>;
  /** Bulk append through DuckDB's appender; values in table column order. */
  append(
    table: string,
    rows: readonly (readonly DuckDBValue[])[],
    types?: DuckDBType[],
  ): Promise<number>;
  /**
   * Asks for a CHECKPOINT soon, in the background (coalesced: one runs at a time, and one
   * more after it if asked again meanwhile). A bulk write (an import) leaves its rows in the
   * WAL or in memory until the next checkpoint, which otherwise falls on whatever later write
   * crosses DuckDB's WAL threshold: 0.7–2.9 s on a user's first edit. With a dataset id, the
   * checkpoint is of that dataset's file (each attached file has its own WAL). `before` runs
   * first, in the same background turn (an import's row-id index: built there, the checkpoint
   * writes it with the rows); one that fails is skipped, the checkpoint still runs.
   */
  checkpointSoon(datasetId?: string, before?: () => Promise<void>): void;
  /** Resolves when no background checkpoint (nor its `before` work) is running or asked for. */
  checkpointsSettled(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function openDuckDb(options: DuckDbOptions): Promise<DuckDb> {
  if (options.path !== ':memory:') mkdirSync(path.dirname(options.path), { recursive: true });
  const settings: Record<string, string> = {
    // Extensions ship inside the package (json, parquet, icu); nothing may be downloaded.
    autoinstall_known_extensions: 'false',
    allow_community_extensions: 'false',
  };
  if (options.threads) settings.threads = String(options.threads);
  if (options.memoryLimit) settings.memory_limit = options.memoryLimit;
  settings.wal_autocheckpoint = options.walAutocheckpoint ?? DEFAULT_WAL_AUTOCHECKPOINT;
  const instance = await DuckDBInstance.create(options.path, settings);

  const size = options.connections ?? 4;
  const idle: DuckDBConnection[] = [];
  const all: DuckDBConnection[] = [];
  for (let index = 0; index < size; index++) {
    const connection = await instance.connect();
    idle.push(connection);
    all.push(connection);
  }
  const waiting: ((connection: DuckDBConnection) => void)[] = [];
  let closed = false;
  const [threadsRow] = (
    await idle[0]!.runAndReadAll(`select current_setting('threads') as threads`)
  ).getRowObjectsJS() as { threads: bigint | number }[];
  const threads = Number(threadsRow?.threads ?? 1);
  // Outside the data dir, under a name that says nothing of it (the sandbox can see its own
  // directory's name in its settings); one per database file, emptied at start (one server per
  // data dir), so a crash leaves nothing behind for long.
  const sandbox = createDuckDbSandbox({
    workDir:
      options.path === ':memory:'
        ? mkdtempSync(path.join(os.tmpdir(), 'braincells-sandbox-'))
        : path.join(
            os.tmpdir(),
            `braincells-sandbox-${createHash('sha256').update(path.resolve(options.path)).digest('hex').slice(0, 16)}`,
          ),
    memoryBytes: options.sandbox?.memoryBytes ?? 1024 ** 3,
    processes: options.sandbox?.processes ?? 2,
  });

  const acquire = (): Promise<DuckDBConnection> => {
    if (closed) return Promise.reject(new Error('DuckDB is closed'));
    const connection = idle.pop();
    if (connection) return Promise.resolve(connection);
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (connection: DuckDBConnection) => {
    const next = waiting.shift();
    if (next) next(connection);
    else idle.push(connection);
  };

  const withConnection = async <T>(work: (connection: DuckDBConnection) => Promise<T>) => {
    const connection = await acquire();
    try {
      return await work(connection);
    } finally {
      release(connection);
    }
  };

  const withConnections = async <T>(
    count: number,
    work: (connections: DuckDBConnection[]) => Promise<T>,
  ) => {
    const borrowed = [await acquire()];
    while (borrowed.length < count && idle.length > 1) borrowed.push(idle.pop()!);
    try {
      return await work(borrowed);
    } finally {
      for (const connection of borrowed) release(connection);
    }
  };

  const datasets = createDatasetFiles({
    dir:
      options.datasetsDir ??
      (options.path === ':memory:'
        ? ':memory:'
        : path.join(path.dirname(options.path), 'datasets')),
    run: (sql) => withConnection((connection) => connection.run(sql)),
    ...(options.maxAttached === undefined ? {} : { maxAttached: options.maxAttached }),
  });

  // The background checkpoint (checkpointSoon): the one running, and the databases asked for
  // meanwhile ('' is the main file).
  let checkpointing: Promise<void> | undefined;
  const checkpointAsked = new Map<string, (() => Promise<void>)[]>();
  const checkpointSoon = (datasetId?: string, before?: () => Promise<void>) => {
    if (closed) return;
    const key = datasetId ?? '';
    const work = checkpointAsked.get(key) ?? [];
    if (before) work.push(before);
    checkpointAsked.set(key, work);
    if (checkpointing) return;
    checkpointing = (async () => {
      for (const [next, work] of checkpointAsked) {
        checkpointAsked.delete(next);
        // Work asked for runs even while closing (close waits for it); the checkpoint is left
        // to the DETACH that closing does anyway.
        for (const task of work) await task().catch(() => {});
        if (closed) continue;
        const target = next ? ` ${quoteIdentifier(datasetCatalog(next))}` : '';
        // A failed checkpoint loses nothing (the WAL stays and the next one retries); a
        // dataset detached meanwhile was checkpointed by its DETACH.
        await withConnection((connection) => connection.run(`checkpoint${target}`)).catch(() => {});
      }
    })().finally(() => {
      checkpointing = undefined;
    });
  };

  return {
    path: options.path,
    threads,
    sandbox,
    datasets,
    checkpointSoon,
    checkpointsSettled: async () => {
      while (checkpointing) await checkpointing;
    },
    withConnection,
    withConnections,
    query: <T>(sql: string, params?: DuckDBValue[]) =>
      withConnection(async (connection) => {
        const reader = await connection.runAndReadAll(sql, params);
        return reader.getRowObjectsJS() as T[];
      }),
    run: (sql, params) =>
      withConnection(async (connection) => {
        const result = await connection.run(sql, params);
        return Number(result.rowsChanged);
      }),
    transaction: (work) =>
      withConnection(async (connection) => {
        await connection.run('begin transaction');
        try {
          const value = await work(connection);
          await connection.run('commit');
          return value;
        } catch (error) {
          await connection.run('rollback').catch(() => {});
          throw error;
        }
      }),
    append: (table, rows, types) =>
      withConnection(async (connection) => {
        quoteIdentifier(table); // refuses anything but one of our identifiers
        const appender = await connection.createAppender(table);
        try {
          for (const row of rows) {
            row.forEach((value, column) => {
              appender.appendValue(value, types?.[column]);
            });
            appender.endRow();
          }
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
        return rows.length;
      }),
    ping: async () => {
      await withConnection((connection) => connection.run('select 1'));
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await checkpointing;
      // Sandbox processes are killed, whatever they run: shutdown never waits on user SQL.
      await sandbox.close();
      // Wait for borrowed connections to come back before closing the instance.
      while (idle.length < all.length) {
        await new Promise<DuckDBConnection>((resolve) => waiting.push(resolve)).then((connection) =>
          idle.push(connection),
        );
      }
      // Each dataset file is checkpointed and unlocked as it is detached.
      for (const datasetId of datasets.attached())
        await all[0]!
          .run(`detach database if exists ${quoteIdentifier(datasetCatalog(datasetId))}`)
          .catch(() => {});
      for (const connection of all) connection.closeSync();
      instance.closeSync();
      datasets.forgetAll();
    },
  };
}
