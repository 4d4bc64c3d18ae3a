import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { type DataDirLock, lockDataDir } from './data-dir-lock.ts';
import { forwardingKey } from './datasets/dataset-forwarding.ts';
import { createDatasetLeases, type DatasetLeases } from './datasets/dataset-leases.ts';
import { createRunHandoff, type RunHandoff } from './datasets/dataset-run-handoff.ts';
import { serverIdFor } from './datasets/dataset-server-id.ts';
import { createDatasetServers, type DatasetServers } from './datasets/dataset-servers.ts';
import { type Database, openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrator.ts';
import { type DuckDb, openDuckDb } from './duckdb/duckdb.ts';
import { migrateDuckDb } from './duckdb/duckdb-migrations.ts';
import { createDurableRuns, type DurableRuns } from './jobs/durable-run.ts';
import { createJobQueue, type JobQueue } from './jobs/job-queue.ts';
import type { Logger } from './logger.ts';
import { createRedisClient } from './redis.ts';
import { openTelemetry, type Telemetry } from './telemetry.ts';

/** The technical capabilities every feature builds on; opened once per process. */
export interface Platform {
  config: Config;
  logger: Logger;
  database: Database;
  duckdb: DuckDb;
  /** Which datasets this server holds (src/platform/datasets/): their files are attached here. */
  datasetLeases: DatasetLeases;
  /** The live servers that may hold datasets (an `api` server holds none; dataset-servers.ts). */
  datasetServers: DatasetServers;
  /** Runs whose dataset another server holds are executed there (dataset-run-handoff.ts). */
  runHandoff: RunHandoff;
  jobs: JobQueue;
  /** The durable-run engine: features define their run kinds on it before the queue starts. */
  runs: DurableRuns;
  /**
   * The Redis of a shared deployment (REDIS_URL), for /readyz and for features that share
   * state through it; undefined without REDIS_URL. It reconnects by itself; commands fail at
   * once while it is down. Features wanting a connection of their own call createRedisClient.
   */
  redis: Redis | undefined;
  /** Trace export when OTEL_EXPORTER_OTLP_ENDPOINT is set; undefined (nothing loaded) otherwise. */
  telemetry: Telemetry | undefined;
  close(): Promise<void>;
}

/** A start-up failure with a one-line message fit for an operator. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export function pgliteDir(config: Config): string {
  return path.join(config.dataDir, 'pg');
}

export function duckdbPath(config: Config): string {
  return path.join(config.dataDir, 'duckdb', 'braincells.duckdb');
}

/** The folder of the per-dataset DuckDB files, shared by every server of a deployment. */
export function datasetsDir(config: Config): string {
  return path.join(config.storageDir ?? config.dataDir, 'datasets');
}

function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}

/**
 * Opens storage in a fixed order (lock → PostgreSQL → migrations → DuckDB → job queue) and
 * closes whatever was opened if a later step fails, so a failed start leaves nothing locked.
 */
export async function openPlatform(config: Config, logger: Logger): Promise<Platform> {
  const opened: (() => Promise<void> | void)[] = [];
  const closeOpened = async () => {
    for (const close of opened.reverse()) await Promise.resolve(close()).catch(() => {});
  };
  try {
    let lock: DataDirLock;
    try {
      lock = lockDataDir(config.dataDir);
    } catch (error) {
      throw new StartupError(`cannot use data directory ${config.dataDir}: ${reason(error)}`, {
        cause: error,
      });
    }
    opened.push(() => lock.release());

    let database: Database;
    try {
      database = config.databaseUrl
        ? await openDatabase({
            kind: 'postgres',
            connectionString: config.databaseUrl,
            poolSize: config.databasePoolSize,
            acquireTimeoutMs: config.databaseAcquireTimeoutMs,
          })
        : await openDatabase({ kind: 'pglite', dataDir: pgliteDir(config) });
    } catch (error) {
      const where = config.databaseUrl
        ? `PostgreSQL at ${redactUrl(config.databaseUrl)}`
        : `the embedded database in ${pgliteDir(config)}`;
      throw new StartupError(`cannot open ${where}: ${reason(error)}`, { cause: error });
    }
    opened.push(() => database.close());

    if (config.migrateOnStart) {
      try {
        const applied = await migrateToLatest(database.db);
        if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
      } catch (error) {
        throw new StartupError(reason(error), { cause: error });
      }
    }

    let duckdb: DuckDb;
    try {
      duckdb = await openDuckDb({
        path: duckdbPath(config),
        threads: config.duckdb.threads,
        memoryLimit: config.duckdb.memoryLimit,
        connections: config.duckdb.connections,
        sandbox: config.duckdb.sandbox,
        datasetsDir: datasetsDir(config),
        maxAttached: config.duckdb.maxAttached,
      });
    } catch (error) {
      throw new StartupError(`cannot open DuckDB at ${duckdbPath(config)}: ${reason(error)}`, {
        cause: error,
      });
    }
    const serverId = serverIdFor(config.dataDir);
    const datasetLeases = createDatasetLeases({
      database,
      serverId,
      internalUrl: () => config.datasets.internalUrl,
      ttlMs: config.datasets.leaseTtlMs,
      logger,
      mayHold: config.role !== 'api',
      onLost: (datasetId) => duckdb.datasets.detach(datasetId),
    });
    const datasetServers = createDatasetServers({
      database,
      serverId,
      role: config.role,
      internalUrl: () => config.datasets.internalUrl,
      ttlMs: config.datasets.leaseTtlMs,
      logger,
    });
    // The files are closed before the leases are given up, so a server claiming one of them
    // next never finds it still open here; it stops being picked for new datasets first.
    opened.push(async () => {
      await datasetServers.stop();
      await duckdb.close();
      await datasetLeases.stop();
    });
    try {
      // Always, whatever BRAINCELLS_MIGRATE_ON_START says: the data dir is locked by this
      // process, so nothing else could apply them.
      const applied = await migrateDuckDb(duckdb);
      if (applied.length > 0) logger.info({ migrations: applied }, 'applied DuckDB migrations');
    } catch (error) {
      throw new StartupError(`DuckDB migration failed: ${reason(error)}`, { cause: error });
    }
    duckdb.datasets.setGuard(datasetLeases);
    datasetLeases.start();
    // One process on its embedded database has no other server to tell.
    if (config.databaseUrl !== undefined) datasetServers.start();
    const runHandoff = createRunHandoff({
      leases: datasetLeases,
      servers: datasetServers,
      datasets: duckdb.datasets,
      key: config.secret.current ? forwardingKey(config.secret.current) : undefined,
      logger,
    });

    const jobs = createJobQueue({ database, logger, work: config.jobsEnabled });
    const runs = createDurableRuns({
      db: database.db,
      jobs,
      logger,
      leaseMs: config.runLeaseMs,
    });

    // Not waited for: a Redis that is down makes the server not ready (/readyz), not fail.
    const redis = config.redis ? createRedisClient(config.redis, { name: 'platform' }) : undefined;
    if (redis) {
      let reported = false;
      redis.on('error', (error) => {
        if (!reported) logger.warn({ err: error }, 'Redis unreachable; /readyz reports it');
        reported = true;
      });
      redis.on('ready', () => {
        reported = false;
      });
      opened.push(() => redis.disconnect());
    }

    // Closed first of all opened things (after the jobs stop): its shutdown sends what is left.
    const telemetry = await openTelemetry(config.telemetry, logger);
    if (telemetry) opened.push(() => telemetry.shutdown());

    let closed = false;
    return {
      config,
      logger,
      database,
      duckdb,
      datasetLeases,
      datasetServers,
      runHandoff,
      jobs,
      runs,
      redis,
      telemetry,
      async close() {
        if (closed) return;
        closed = true;
        // Runs executing here go back to `queued` first, so the job workers stop at once.
        await runs.stop();
        await jobs.stop({ timeoutMs: config.shutdownTimeoutMs });
        await closeOpened();
      },
    };
  } catch (error) {
    await closeOpened();
    throw error;
  }
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
