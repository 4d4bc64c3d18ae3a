import { createHash } from 'node:crypto';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { AppError } from '../platform/app-error.ts';
import {
  createDatasetLeases,
  type DatasetLeases,
  DatasetOwnedElsewhere,
} from '../platform/datasets/dataset-leases.ts';
import { type DatasetServers, noDatasetServer } from '../platform/datasets/dataset-servers.ts';
import type { Database } from '../platform/db/database.ts';
import {
  type DuckDBValue,
  type DuckDb,
  type DuckDbOptions,
  openDuckDb,
} from '../platform/duckdb/duckdb.ts';
import { ATTACHED_IDLE_MS } from '../platform/duckdb/duckdb-datasets.ts';
import { createIdleBound } from '../platform/idle-bound.ts';
import type { Logger } from '../platform/logger.ts';
import type { Platform } from '../platform/platform.ts';
import { carryOverMonitorRows, legacyMonitorProjects } from './monitor-carry-over.ts';
import { createMonitorStore, type MonitorStore } from './monitor-store.ts';
import { ensureMonitorTables } from './monitor-tables.ts';

/** A project's monitor tables: the DuckDB they live in and the store over it. */
export interface MonitorFile {
  duckdb: DuckDb;
  store: MonitorStore;
}

/**
 * Where each project's monitor tables live (docs/decisions/2026-12-07-monitor-files.md).
 *
 * - Embedded (one server): every project's tables in the server's one DuckDB file, as always.
 * - Shared (DATABASE_URL + BRAINCELLS_STORAGE_DIR): one file per project,
 *   `<storage>/monitor/<projectId>.duckdb`, held by one server at a time through the dataset
 *   lease mechanism (a second instance of it, keyed by `monitorLeaseKey(projectId)`). Requests
 *   reaching another server are forwarded to the holder (monitor-forwarding.ts).
 */
export interface MonitorFiles {
  /** The project's tables, ready; in shared mode claims the project's lease first. */
  open(projectId: string): Promise<MonitorFile>;
  /** The project's tables if this server has them open now (claims nothing, opens nothing). */
  ifOpen(projectId: string): Promise<MonitorFile | undefined>;
  /**
   * Keeps the project's file open until the returned release is called (an import, a
   * repricing, a server-side watch): the bound on open files never closes a held one.
   */
  hold(projectId: string): () => void;
  /**
   * Server start: the projects whose rows this server's data-dir DuckDB still holds from
   * before the deployment went shared are opened here, which carries them over (a project
   * another server holds is left for later: its next opening here, or the next start).
   */
  carryOverLegacy(): Promise<void>;
  /**
   * Who holds the project's file when it is another live server (forward to it); undefined
   * when this server holds it, nobody does, or there is one server.
   */
  holderElsewhere(projectId: string): Promise<{ serverId: string; url: string } | undefined>;
  /** Closes the files and gives the leases up at once (server shutdown). */
  close(): Promise<void>;
}

/** Embedded mode: the server's one DuckDB instance holds every project's tables. */
export function createEmbeddedMonitorFiles(duckdb: DuckDb): MonitorFiles {
  const file: MonitorFile = { duckdb, store: createMonitorStore(duckdb) };
  let ready: Promise<void> | undefined;
  return {
    async open() {
      ready ??= ensureMonitorTables(duckdb).catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
      await ready;
      return file;
    },
    ifOpen: async () => (ready ? file : undefined),
    hold: () => () => {},
    carryOverLegacy: async () => {},
    holderElsewhere: async () => undefined,
    close: async () => {},
  };
}

/**
 * The key of a project's monitor file in `dataset_lease`: a UUID derived from the project id
 * under its own namespace, so it never equals a dataset's id (nor the project id itself).
 */
export function monitorLeaseKey(projectId: string): string {
  const hex = createHash('sha256').update(`braincells monitor file:${projectId}`).digest('hex');
  // RFC 9562 version 8 (custom), variant 10.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function monitorFilePath(dir: string, projectId: string): string {
  return path.join(dir, `${projectId}.duckdb`);
}

/** Another server holds the project's monitor file and could not be reached through it. */
export const monitorHeldElsewhere = (projectId: string) =>
  new AppError(
    'SERVICE_UNAVAILABLE',
    "Another server holds this project's monitor data; try again shortly",
    {
      details: { projectId },
    },
  );

/** Paths of the monitor files open in this process, by any server it runs. */
const OPEN_IN_PROCESS = new Set<string>();

const handingOver = (projectId: string) =>
  new AppError(
    'SERVICE_UNAVAILABLE',
    "This project's monitor data is being handed over between servers; try again",
    { details: { projectId } },
  );

const lost = (projectId: string) =>
  new AppError(
    'SERVICE_UNAVAILABLE',
    "This server no longer holds this project's monitor data; try again",
    { details: { projectId } },
  );

/**
 * A DuckDb whose writes check the project's lease first (fencing): a server whose heartbeats
 * failed stops writing before another may claim the file. Reads go through as they are.
 * Every call runs through `use` (the bound on open files counts calls under way as use).
 */
function fenced(
  duckdb: DuckDb,
  check: () => void,
  close: () => Promise<void>,
  use: <T>(work: () => Promise<T>) => Promise<T>,
): DuckDb {
  const write = <T>(work: () => Promise<T>) =>
    use(async () => {
      check();
      return work();
    });
  return {
    get path() {
      return duckdb.path;
    },
    get threads() {
      return duckdb.threads;
    },
    get sandbox() {
      return duckdb.sandbox;
    },
    get datasets() {
      return duckdb.datasets;
    },
    withConnection: <T>(work: (connection: DuckDBConnection) => Promise<T>) =>
      write(() => duckdb.withConnection(work)),
    withConnections: <T>(count: number, work: (connections: DuckDBConnection[]) => Promise<T>) =>
      write(() => duckdb.withConnections(count, work)),
    query: <T>(sql: string, params?: DuckDBValue[]) => use(() => duckdb.query<T>(sql, params)),
    run: (sql, params) => write(() => duckdb.run(sql, params)),
    transaction: (work) => write(() => duckdb.transaction(work)),
    append: (table, rows, types) => write(() => duckdb.append(table, rows, types)),
    checkpointSoon: (datasetId, before) => duckdb.checkpointSoon(datasetId, before),
    checkpointsSettled: () => duckdb.checkpointsSettled(),
    ping: () => duckdb.ping(),
    close,
  };
}

export interface SharedMonitorFilesOptions {
  database: Database;
  /** `<BRAINCELLS_STORAGE_DIR>/monitor`, reached by every server. */
  dir: string;
  /** This server's id (the one its dataset leases use: a restart takes its own back at once). */
  serverId: string;
  internalUrl: () => string | undefined;
  ttlMs: number;
  logger: Logger;
  /** Settings of each project's DuckDB instance (threads, memory). */
  duckdb?: Pick<DuckDbOptions, 'threads' | 'memoryLimit'>;
  /**
   * The servers that may hold data (docs/deploy.md "`api` servers hold no dataset"): an `api`
   * server holds no monitor file either, and sends a project nobody holds to one of them.
   */
  servers?: Pick<DatasetServers, 'mayHold' | 'pick'>;
  /**
   * The data dir's DuckDB (the server's own instance): a project's rows it still holds from
   * single-server days move into the project's file when this server first opens it
   * (monitor-carry-over.ts). Absent: nothing is carried over.
   */
  legacy?: DuckDb | undefined;
  /** Test seam: called between the carry-over's copy and its cleanup. */
  afterCarryCopy?: (projectId: string) => void | Promise<void>;
  /** Files kept open at most (BRAINCELLS_MONITOR_MAX_OPEN, default DEFAULT_MONITOR_MAX_OPEN). */
  maxOpen?: number | undefined;
  /** A file used this recently is not closed by the bound (default: the datasets' 5 minutes). */
  idleMs?: number;
  now?: () => number;
}

/** Monitor files a server keeps open at most, by default (BRAINCELLS_MONITOR_MAX_OPEN). */
export const DEFAULT_MONITOR_MAX_OPEN = 32;

/** Shared mode: one file per project under the storage root, one holder at a time. */
export function createSharedMonitorFiles(
  options: SharedMonitorFilesOptions,
): MonitorFiles & { closingsSettled(): Promise<void> } {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const maxOpen = options.maxOpen ?? DEFAULT_MONITOR_MAX_OPEN;
  const idleMs = options.idleMs ?? ATTACHED_IDLE_MS;
  // Keyed by lease key: the lease instance speaks only of keys.
  const projectOfKey = new Map<string, string>();
  const opened = new Map<string, Promise<MonitorFile>>();
  /** When each project's file was last used, and the holds on it (imports, repricings, watches). */
  const bound = createIdleBound({ max: maxOpen, idleMs, now });
  const { touch } = bound;
  /** Project id → calls on its file under way. */
  const busy = new Map<string, number>();
  /** Project id → its closing by the bound (file closed, then lease given up) in flight. */
  const closing = new Map<string, Promise<void>>();
  const count = (counts: Map<string, number>, projectId: string, by: number) => {
    const next = (counts.get(projectId) ?? 0) + by;
    if (next > 0) counts.set(projectId, next);
    else counts.delete(projectId);
  };

  const closeFile = async (projectId: string) => {
    const file = opened.get(projectId);
    opened.delete(projectId);
    bound.forget(projectId);
    if (!file) return;
    const { duckdb } = await file.catch(() => ({ duckdb: undefined }));
    await duckdb?.close();
  };

  /**
   * Closes the least recently used idle files (none held, no call under way, unused for
   * `idleMs`) while more than `maxOpen` are open, giving their leases up: another server may
   * take the project at once, and the next use here claims it again. A soft bound: while
   * more are in use, more stay open.
   */
  const closeIdle = () => {
    const idle = bound.idle(
      opened.size,
      (projectId) => !opened.has(projectId) || busy.has(projectId) || closing.has(projectId),
    );
    for (const projectId of idle) {
      const done = closeFile(projectId)
        .then(() => leases.release(monitorLeaseKey(projectId)))
        .catch((error: unknown) =>
          logger.warn({ err: error, projectId }, 'monitor: closing an idle project file failed'),
        )
        .finally(() => closing.delete(projectId));
      closing.set(projectId, done);
    }
  };

  const leases: DatasetLeases = createDatasetLeases({
    database: options.database,
    serverId: options.serverId,
    internalUrl: options.internalUrl,
    ttlMs: options.ttlMs,
    logger,
    mayHold: options.servers?.mayHold ?? true,
    ...(options.now ? { now: options.now } : {}),
    onLost: async (key) => {
      const projectId = projectOfKey.get(key);
      if (projectId) await closeFile(projectId);
    },
  });
  leases.start();

  const openFile = async (projectId: string, key: string): Promise<MonitorFile> => {
    const target = path.resolve(monitorFilePath(options.dir, projectId));
    // Two servers in one process (tests) share no OS lock: this set stands in for it.
    if (OPEN_IN_PROCESS.has(target)) throw handingOver(projectId);
    OPEN_IN_PROCESS.add(target);
    let raw: DuckDb;
    try {
      if (options.legacy) {
        const legacy = options.legacy;
        leases.checkWrite(key);
        const carried = await carryOverMonitorRows({
          legacy,
          target,
          projectId,
          afterCopy: () => options.afterCarryCopy?.(projectId),
        });
        if (carried)
          logger.info(
            { projectId, ...carried },
            "monitor: carried the project's rows over from the data dir's DuckDB file",
          );
      }
      raw = await openDuckDb({
        path: target,
        connections: 2,
        threads: options.duckdb?.threads,
        memoryLimit: options.duckdb?.memoryLimit,
        // Nothing attaches datasets here; the folder is never made.
        datasetsDir: path.join(options.dir, '.datasets-unused'),
      });
    } catch (error) {
      OPEN_IN_PROCESS.delete(target);
      // Another process still has the file open (a holder whose lease lapsed but who has not
      // closed it yet): a moment later it will have.
      if (/lock/i.test(String((error as Error).message))) throw handingOver(projectId);
      throw error;
    }
    const close = async () => {
      await raw.close();
      OPEN_IN_PROCESS.delete(target);
    };
    try {
      await ensureMonitorTables(raw);
    } catch (error) {
      await close();
      throw error;
    }
    const duckdb = fenced(
      raw,
      () => {
        try {
          leases.checkWrite(key);
        } catch {
          throw lost(projectId);
        }
      },
      close,
      async (work) => {
        touch(projectId);
        count(busy, projectId, 1);
        try {
          return await work();
        } finally {
          count(busy, projectId, -1);
          if (opened.has(projectId)) touch(projectId);
        }
      },
    );
    return { duckdb, store: createMonitorStore(duckdb) };
  };

  return {
    async open(projectId) {
      // After a closing by the bound (and the lease it gives up): claimed and opened again.
      for (let running = closing.get(projectId); running; running = closing.get(projectId))
        await running;
      const key = monitorLeaseKey(projectId);
      projectOfKey.set(key, projectId);
      try {
        await leases.claim(key);
      } catch (error) {
        if (error instanceof DatasetOwnedElsewhere) throw monitorHeldElsewhere(projectId);
        throw error;
      }
      let file = opened.get(projectId);
      if (!file) {
        const opening = openFile(projectId, key);
        file = opening;
        opened.set(projectId, opening);
        touch(projectId);
        opening.then(closeIdle, () => {
          if (opened.get(projectId) === opening) {
            opened.delete(projectId);
            bound.forget(projectId);
          }
        });
      } else touch(projectId);
      return file;
    },
    hold(projectId) {
      bound.hold(projectId);
      if (opened.has(projectId)) touch(projectId);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        bound.release(projectId);
        if (opened.has(projectId)) touch(projectId);
        // An import or a watch done: a moment to close what has been idle past the bound.
        closeIdle();
      };
    },
    async carryOverLegacy() {
      if (!options.legacy || options.servers?.mayHold === false) return;
      for (const projectId of await legacyMonitorProjects(options.legacy)) {
        // Opening carries the rows over; a project another server holds waits for its turn.
        await this.open(projectId).catch((error: unknown) =>
          logger.info(
            { err: error, projectId },
            "monitor: the project's rows in the data dir are carried over when this server next holds it",
          ),
        );
      }
    },
    async ifOpen(projectId) {
      const file = opened.get(projectId);
      if (!file || !leases.holds(monitorLeaseKey(projectId))) return undefined;
      return file.catch(() => undefined);
    },
    async holderElsewhere(projectId) {
      const key = monitorLeaseKey(projectId);
      if (leases.holds(key)) return undefined;
      const owner = await leases.owner(key);
      if (owner && owner.serverId !== leases.serverId && owner.url)
        return { serverId: owner.serverId, url: owner.url };
      const { servers } = options;
      if (!servers || servers.mayHold) return undefined;
      // An api server: a project nobody holds goes to a server that may hold it.
      const picked = await servers.pick(key);
      if (!picked) throw noDatasetServer(undefined);
      return picked;
    },
    /** The files the bound is closing are closed, their leases given up (tests). */
    async closingsSettled() {
      await Promise.all(closing.values());
    },
    async close() {
      // Files first, leases after: a server claiming one next never finds it open here.
      await Promise.all(closing.values());
      for (const projectId of [...opened.keys()]) await closeFile(projectId);
      await leases.stop();
    },
  };
}

/**
 * The layout a server uses: per-project files held by lease when it shares PostgreSQL and a
 * storage root with other servers (DATABASE_URL + BRAINCELLS_STORAGE_DIR); else undefined,
 * and every project's tables stay in the server's own DuckDB file.
 */
export function monitorFilesFor(platform: Platform): MonitorFiles | undefined {
  const { config } = platform;
  if (!config.databaseUrl || !config.storageDir) return undefined;
  return createSharedMonitorFiles({
    database: platform.database,
    dir: path.join(config.storageDir, 'monitor'),
    serverId: platform.datasetLeases.serverId,
    internalUrl: () => config.datasets.internalUrl,
    ttlMs: config.datasets.leaseTtlMs,
    logger: platform.logger,
    duckdb: { threads: config.duckdb.threads, memoryLimit: config.duckdb.memoryLimit },
    servers: platform.datasetServers,
    legacy: platform.duckdb,
    maxOpen: config.monitor.maxOpen,
  });
}
