import { sql } from 'kysely';
import { AppError } from '../app-error.ts';
import type { Database } from '../db/database.ts';
import type { DatasetGuard } from '../duckdb/duckdb-datasets.ts';
import type { Logger } from '../logger.ts';

/**
 * Dataset ownership (issue 20 item 3, docs/decisions/2026-12-06-dataset-ownership.md): one
 * server at a time holds a dataset's DuckDB file, through a row of `dataset_lease` in
 * PostgreSQL (or PGlite): owner, expiry, and a fencing token that grows on every claim.
 *
 * - A claim succeeds when the row is free, already ours, or past its expiry (one statement,
 *   so two servers racing for one dataset get one winner).
 * - Held leases are renewed together by a heartbeat every third of the TTL. A renewal that
 *   finds the row gone to another owner (or another token) drops the lease and detaches.
 * - Writes check a local deadline, never the database: `renewal start + TTL − TTL/3`. The
 *   row expires at `renewal start + TTL` at the earliest, so a server whose heartbeats fail
 *   stops writing a third of the TTL before anyone else may claim the dataset (that third is
 *   the allowance for clock skew between servers and for a write already under way).
 *
 * On one server every claim is its own and happens once per dataset per process; the hot
 * path is a Map lookup.
 */
export interface DatasetLeases extends DatasetGuard {
  readonly serverId: string;
  /** Who holds the dataset now: undefined when nobody does (or the lease expired). */
  owner(datasetId: string): Promise<{ serverId: string; url: string | null } | undefined>;
  /** Whether this server holds the dataset and may write it (no database round trip). */
  holds(datasetId: string): boolean;
  /** The fencing token this server holds the dataset with; undefined when it does not. */
  token(datasetId: string): number | undefined;
  /** One heartbeat: renews every held lease, drops those lost or past their deadline. */
  renew(): Promise<void>;
  /** Gives a dataset up (it was deleted, or the server is stopping). */
  release(datasetId: string): Promise<void>;
  /** Starts the heartbeat timer. */
  start(): void;
  /** Stops the heartbeat and releases every lease held, so another server may claim at once. */
  stop(): Promise<void>;
}

/** The dataset is held by another live server: forward the request there, or retry later. */
export class DatasetOwnedElsewhere extends AppError {
  /** Internal: where the owner is reached (never shown to a client). */
  readonly ownerUrl: string | null;
  readonly ownerId: string;
  constructor(datasetId: string, owner: { serverId: string; url: string | null }) {
    super('SERVICE_UNAVAILABLE', 'Another server holds this dataset; try again shortly', {
      details: { datasetId },
    });
    this.ownerUrl = owner.url;
    this.ownerId = owner.serverId;
  }
}

/**
 * An `api` server holds no dataset (issue 20 item 1): its requests for one are forwarded
 * (dataset-forwarding.ts); anything that still reaches a claim here is refused.
 */
export class HoldsNoDataset extends AppError {
  constructor(datasetId: string) {
    super(
      'SERVICE_UNAVAILABLE',
      'This server (BRAINCELLS_ROLE=api) holds no dataset; the request must reach a server that does',
      { details: { datasetId } },
    );
  }
}

/** Whether an error says the dataset's file is another server's to read (or no one's here). */
export const isHeldElsewhere = (error: unknown): boolean =>
  error instanceof DatasetOwnedElsewhere || error instanceof HoldsNoDataset;

export const leaseLost = (datasetId: string) =>
  new AppError('SERVICE_UNAVAILABLE', 'This server no longer holds the dataset; try again', {
    details: { datasetId },
  });

interface Held {
  token: number;
  /** Epoch ms after which this server no longer writes the dataset without a renewal. */
  writableUntil: number;
}

export function createDatasetLeases(options: {
  database: Database;
  /** This server's id, stable across its restarts (so it takes its own leases back at once). */
  serverId: string;
  /** Where other servers forward requests for the datasets held here (read at each claim). */
  internalUrl: () => string | undefined;
  ttlMs: number;
  logger: Logger;
  now?: () => number;
  /** false on an `api` server: every claim is refused (default true). */
  mayHold?: boolean;
  /** Called when a lease is lost or lapses: the dataset's file must be detached. */
  onLost: (datasetId: string) => Promise<void>;
}): DatasetLeases {
  const { database, serverId, ttlMs, logger } = options;
  const db = database.db;
  const now = options.now ?? Date.now;
  const margin = Math.floor(ttlMs / 3);
  const held = new Map<string, Held>();
  const claiming = new Map<string, Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let renewing: Promise<void> | undefined;

  /** Datasets whose file is being closed after their lease was lost. */
  const losing = new Map<string, Promise<void>>();
  const lose = (datasetId: string, why: string): Promise<void> => {
    if (!held.delete(datasetId)) return losing.get(datasetId) ?? Promise.resolve();
    logger.warn({ datasetId, reason: why }, 'dataset lease lost; its file is detached');
    const closing = options
      .onLost(datasetId)
      .catch((error: unknown) => {
        logger.error({ err: error, datasetId }, 'detaching a lost dataset failed');
      })
      .finally(() => losing.delete(datasetId));
    losing.set(datasetId, closing);
    return closing;
  };

  const ownerRow = async (datasetId: string) =>
    db
      .selectFrom('dataset_lease')
      .select(['owner_id', 'owner_url', 'expires_at'])
      .where('dataset_id', '=', datasetId)
      .executeTakeFirst();

  const claimOnce = async (datasetId: string): Promise<void> => {
    if (options.mayHold === false) {
      const owner = await leases.owner(datasetId);
      if (owner) throw new DatasetOwnedElsewhere(datasetId, owner);
      throw new HoldsNoDataset(datasetId);
    }
    const started = now();
    const at = new Date(started);
    const expires = new Date(started + ttlMs);
    // One statement: insert, or take over a row that is ours or expired. Two servers racing
    // for one dataset both reach the row lock; the second sees the first's fresh expiry.
    const row = await db
      .insertInto('dataset_lease')
      .values({
        dataset_id: datasetId,
        owner_id: serverId,
        owner_url: options.internalUrl() ?? null,
        token: 1,
        expires_at: expires,
        renewed_at: at,
      })
      .onConflict((conflict) =>
        conflict
          .column('dataset_id')
          .doUpdateSet({
            owner_id: serverId,
            owner_url: options.internalUrl() ?? null,
            token: sql<number>`dataset_lease.token + 1`,
            expires_at: expires,
            renewed_at: at,
          })
          .where((eb) =>
            eb.or([
              eb('dataset_lease.owner_id', '=', serverId),
              eb('dataset_lease.expires_at', '<=', at),
            ]),
          ),
      )
      .returning('token')
      .executeTakeFirst();
    if (row) {
      held.set(datasetId, { token: row.token, writableUntil: started + ttlMs - margin });
      return;
    }
    const owner = await ownerRow(datasetId);
    if (!owner) return claimOnce(datasetId); // released between the two statements
    throw new DatasetOwnedElsewhere(datasetId, { serverId: owner.owner_id, url: owner.owner_url });
  };

  const writable = (datasetId: string) => {
    const lease = held.get(datasetId);
    return lease !== undefined && now() < lease.writableUntil;
  };

  const leases: DatasetLeases = {
    serverId,
    async claim(datasetId) {
      if (writable(datasetId)) return;
      let pending = claiming.get(datasetId);
      if (!pending) {
        // Past its deadline without a renewal: the file goes before the lease is asked again
        // (another server may have claimed it meanwhile and must find it closed).
        const lapsed = lose(datasetId, 'deadline passed without a renewal');
        pending = lapsed.then(() => claimOnce(datasetId)).finally(() => claiming.delete(datasetId));
        claiming.set(datasetId, pending);
      }
      await pending;
    },
    checkWrite(datasetId) {
      if (writable(datasetId)) return;
      if (held.has(datasetId)) void lose(datasetId, 'deadline passed without a renewal');
      throw leaseLost(datasetId);
    },
    holds: writable,
    token: (datasetId) => held.get(datasetId)?.token,
    async owner(datasetId) {
      if (writable(datasetId)) return { serverId, url: options.internalUrl() ?? null };
      const row = await ownerRow(datasetId);
      if (!row || new Date(row.expires_at).getTime() <= now()) return undefined;
      return { serverId: row.owner_id, url: row.owner_url };
    },
    renew() {
      renewing ??= (async () => {
        const started = now();
        const ids = [...held.keys()];
        if (ids.length === 0) return;
        const rows = await db
          .updateTable('dataset_lease')
          .set({ expires_at: new Date(started + ttlMs), renewed_at: new Date(started) })
          .where('owner_id', '=', serverId)
          .where('dataset_id', 'in', ids)
          .returning(['dataset_id', 'token'])
          .execute();
        const renewed = new Map(rows.map((row) => [row.dataset_id, row.token]));
        for (const id of ids) {
          const lease = held.get(id);
          if (!lease) continue;
          if (renewed.get(id) === lease.token) lease.writableUntil = started + ttlMs - margin;
          else await lose(id, 'taken over by another server');
        }
      })()
        .catch(async (error: unknown) => {
          // The database is unreachable: keep writing until each deadline, no longer.
          logger.warn({ err: error }, 'dataset lease heartbeat failed');
          for (const id of [...held.keys()])
            if (!writable(id)) await lose(id, 'heartbeats failed until its deadline');
        })
        .finally(() => {
          renewing = undefined;
        });
      return renewing;
    },
    async release(datasetId) {
      const lease = held.get(datasetId);
      held.delete(datasetId);
      if (!lease) return;
      await db
        .deleteFrom('dataset_lease')
        .where('dataset_id', '=', datasetId)
        .where('owner_id', '=', serverId)
        .where('token', '=', lease.token)
        .execute();
    },
    start() {
      if (timer) return;
      timer = setInterval(() => void leases.renew(), margin);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await renewing;
      const ids = [...held.keys()];
      held.clear();
      if (ids.length === 0) return;
      await db
        .deleteFrom('dataset_lease')
        .where('owner_id', '=', serverId)
        .where('dataset_id', 'in', ids)
        .execute()
        .catch((error: unknown) => logger.warn({ err: error }, 'releasing dataset leases failed'));
    },
  };
  return leases;
}
