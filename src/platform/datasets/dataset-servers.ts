import { createHash } from 'node:crypto';
import { serviceUnavailable } from '../app-error.ts';
import type { ServerRole } from '../config-deployment.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';

/**
 * The live servers that may hold datasets (issue 20 item 1,
 * docs/decisions/2026-12-07-api-role-holds-no-dataset.md). An `api` server holds none, so a
 * request it receives for a dataset nobody holds goes to one of these, which claims it. Each
 * `all` or `worker` server keeps a row of `server_presence` (role, internal URL, expiry) by
 * heartbeat every third of the dataset lease TTL; a row past its expiry is ignored.
 */
export interface DatasetServers {
  /** Whether this server may hold datasets (its role is not `api`). */
  readonly mayHold: boolean;
  /** One heartbeat: writes this server's row (nothing on an `api` server). */
  beat(): Promise<void>;
  /**
   * The live server a dataset nobody holds goes to: among those with an internal URL, the one
   * ranked first for this key by rendezvous hashing (so every api server picks the same one, and
   * a server joining or leaving moves only its share). undefined when none is alive.
   */
  pick(key: string): Promise<{ serverId: string; url: string } | undefined>;
  /** Whether a server is alive and may hold datasets (a run is handed only to such a one). */
  mayHoldAlive(serverId: string): Promise<boolean>;
  start(): void;
  /** Stops the heartbeat and removes this server's row (it is no longer picked). */
  stop(): Promise<void>;
}

/** The 503 an api server answers when no server may take a dataset. */
export const noDatasetServer = (datasetId: string | undefined) =>
  serviceUnavailable(
    'No server that holds datasets (BRAINCELLS_ROLE=all or worker, with BRAINCELLS_INTERNAL_URL) is running; start one, or try again shortly',
    datasetId === undefined ? {} : { datasetId },
  );

export function createDatasetServers(options: {
  database: Database;
  serverId: string;
  role: ServerRole;
  /** Read at each heartbeat (a test server learns its port after it listens). */
  internalUrl: () => string | undefined;
  ttlMs: number;
  logger: Logger;
  now?: () => number;
}): DatasetServers {
  const { database, serverId, role, ttlMs, logger } = options;
  const db = database.db;
  const now = options.now ?? Date.now;
  const mayHold = role !== 'api';
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<void> | undefined;

  const live = () =>
    db
      .selectFrom('server_presence')
      .select(['server_id', 'url'])
      .where('expires_at', '>', new Date(now()))
      .where('role', 'in', ['all', 'worker']);

  const servers: DatasetServers = {
    mayHold,
    beat() {
      if (!mayHold) return Promise.resolve();
      beating ??= (async () => {
        const at = now();
        const row = {
          role,
          url: options.internalUrl() ?? null,
          expires_at: new Date(at + ttlMs),
          heartbeat_at: new Date(at),
        };
        await db
          .insertInto('server_presence')
          .values({ server_id: serverId, ...row })
          .onConflict((conflict) => conflict.column('server_id').doUpdateSet(row))
          .execute();
      })()
        .catch((error: unknown) => logger.warn({ err: error }, 'server presence heartbeat failed'))
        .finally(() => {
          beating = undefined;
        });
      return beating;
    },
    async pick(key) {
      const rows = await live().where('url', 'is not', null).execute();
      let best: { serverId: string; url: string; rank: string } | undefined;
      for (const row of rows) {
        const rank = createHash('sha256').update(`${row.server_id}\n${key}`).digest('hex');
        if (!best || rank > best.rank) best = { serverId: row.server_id, url: row.url!, rank };
      }
      return best && { serverId: best.serverId, url: best.url };
    },
    async mayHoldAlive(id) {
      if (id === serverId) return mayHold;
      return (await live().where('server_id', '=', id).executeTakeFirst()) !== undefined;
    },
    start() {
      if (!mayHold || timer) return;
      void servers.beat();
      timer = setInterval(() => void servers.beat(), Math.max(1, Math.floor(ttlMs / 3)));
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await beating;
      if (!mayHold) return;
      await db
        .deleteFrom('server_presence')
        .where('server_id', '=', serverId)
        .execute()
        .catch((error: unknown) => logger.warn({ err: error }, 'removing server presence failed'));
    },
  };
  return servers;
}
