import { isAppError, notFound, serviceUnavailable, unauthenticated } from '../app-error.ts';
import type { DatasetFiles } from '../duckdb/duckdb-datasets.ts';
import type { AppInstance } from '../http/app-instance.ts';
import { type ExecuteOutcome, type RunRecord, RunStopped } from '../jobs/durable-run.ts';
import type { Logger } from '../logger.ts';
import {
  FORWARDED_IDENTITY_HEADER,
  signForwardedIdentity,
  verifyForwardedIdentity,
} from './dataset-forwarding.ts';
import { type DatasetLeases, DatasetOwnedElsewhere } from './dataset-leases.ts';
import type { DatasetServers } from './dataset-servers.ts';

/**
 * Background work on a dataset goes to the server that holds it (issue 20 item 3,
 * docs/decisions/2026-12-06-dataset-ownership.md "Runs go to the holder"). pg-boss hands a
 * run's job to any server; the one that gets it, finding the dataset held by another live
 * server (it attaches the dataset before any cell is read or any model called: the claim
 * throws DatasetOwnedElsewhere), gives the run back to the queue (`RunStopped('shutdown')`: the engine marks it `queued`) and,
 * once the engine has settled it, asks the holder over its internal URL to execute it there.
 * The holder's writes stay the only writes. A holder that does not answer (dead, its lease not
 * expired yet) is no loss: the engine's recovery sweep queues the run again every lease period,
 * and the first server to get it after the dataset's lease expired takes the dataset over. A
 * dataset between two holders (its lease expired, its file still open in a frozen process: 503
 * "being handed over") gives the run back the same way, for the sweep to try again. A run that
 * loses its dataset mid-way is left to its lease (`RunStopped('lease-lost')`), as after a crash.
 *
 * The request carries no caller: an HMAC over `{ server }`, method, URL and a 30 s expiry with
 * the forwarding key, checked by the route itself (it is outside the user auth).
 */
export const RUN_HANDOFF_ROUTE = '/api/internal/runs/:kind/:runId/execute';
const MAX_AGE_MS = 30_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KIND = /^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$/;

export interface RunHandoff {
  /**
   * A run kind's executor, for the runs handed to this server (the module whose engine defines
   * the kind registers it).
   */
  register(kinds: readonly string[], execute: (runId: string) => Promise<ExecuteOutcome>): void;
  /**
   * Wraps a kind's `execute`: attaches the run's dataset first; held by another live server,
   * the run is handed there (RunStopped('shutdown') is thrown) instead of being executed here.
   */
  execute<T>(
    runId: string,
    datasetOf: () => Promise<string | undefined>,
    work: () => Promise<T>,
  ): Promise<T>;
  /**
   * Called first in a kind's `settled` hook: true when this settlement was a hand-off (the
   * feature's view must not follow it — the run goes on elsewhere); the holder is then told.
   */
  settled(run: RunRecord, outcome: ExecuteOutcome): boolean;
  /** The internal route the holder answers on. */
  install(app: AppInstance): void;
  /** Hand-offs sent (for the bench and tests). */
  readonly sent: number;
}

export function createRunHandoff(options: {
  leases: DatasetLeases;
  /** Runs are handed only to a live server that may hold datasets (never to an `api` one). */
  servers: Pick<DatasetServers, 'mayHold' | 'mayHoldAlive'>;
  datasets: Pick<DatasetFiles, 'open' | 'hold'>;
  /** undefined without BRAINCELLS_SECRET: nothing is handed off (one server). */
  key: Buffer | undefined;
  logger: Logger;
  now?: () => number;
}): RunHandoff {
  const { leases, key, logger } = options;
  const now = options.now ?? Date.now;
  const executors = new Map<string, (runId: string) => Promise<ExecuteOutcome>>();
  /** Runs this server gave back: run id → the holder's internal URL (null: nobody to tell). */
  const handing = new Map<string, string | null>();
  let sent = 0;

  const tell = async (run: RunRecord, ownerUrl: string) => {
    const url = new URL(
      RUN_HANDOFF_ROUTE.replace(':kind', run.kind).replace(':runId', run.id),
      ownerUrl,
    );
    const header = signForwardedIdentity(key!, {
      actor: { server: leases.serverId },
      method: 'POST',
      url: url.pathname,
      expiresAt: now() + MAX_AGE_MS,
    });
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { [FORWARDED_IDENTITY_HEADER]: header },
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      if (response.status !== 202)
        logger.warn({ runId: run.id, status: response.status }, 'run hand-off refused');
      else sent++;
    } catch (error) {
      // The holder is gone or cut off: the recovery sweep queues the run again.
      logger.warn({ err: error, runId: run.id }, 'dataset holder unreachable for a run hand-off');
    }
  };

  return {
    get sent() {
      return sent;
    },
    register(kinds, execute) {
      for (const kind of kinds) executors.set(kind, execute);
    },
    async execute(runId, datasetOf, work) {
      const datasetId = await datasetOf();
      // A running run holds its dataset: the bound on attached files never detaches it.
      const release = datasetId === undefined ? () => {} : options.datasets.hold(datasetId);
      try {
        if (datasetId !== undefined) {
          try {
            await options.datasets.open(datasetId);
          } catch (error) {
            const heldElsewhere =
              error instanceof DatasetOwnedElsewhere &&
              key !== undefined &&
              error.ownerUrl !== null &&
              error.ownerId !== leases.serverId;
            // A holder that cannot execute it (not among the live servers that may hold
            // datasets: an `api` server of an older version, or one gone) is not told: the run
            // is queued again for the sweep, as between two holders.
            const elsewhere =
              heldElsewhere &&
              (await options.servers
                .mayHoldAlive((error as DatasetOwnedElsewhere).ownerId)
                .catch(() => false));
            // Anything else (no table yet, a dataset gone) is the work's own to meet and report.
            if (heldElsewhere || isBetweenHolders(error)) {
              const ownerUrl = elsewhere ? (error as DatasetOwnedElsewhere).ownerUrl : null;
              logger.info(
                {
                  runId,
                  datasetId,
                  handedTo: ownerUrl ? (error as DatasetOwnedElsewhere).ownerId : null,
                },
                ownerUrl
                  ? 'run handed to the server holding its dataset'
                  : 'run queued again: its dataset is between two servers',
              );
              handing.set(runId, ownerUrl);
              throw new RunStopped('shutdown');
            }
          }
        }
        try {
          return await work();
        } catch (error) {
          // The dataset went to another server mid-run (this one's lease lapsed or was taken):
          // its writes were refused (or met the file closing under them), not lost. The run is
          // left to its lease, as after a crash — the recovery sweep queues it once that
          // expires, and its next executor (the holder, through a hand-off) releases the cells
          // left `generating` and goes on.
          const lost =
            error instanceof DatasetOwnedElsewhere ||
            isBetweenHolders(error) ||
            (datasetId !== undefined && !(error instanceof RunStopped) && !leases.holds(datasetId));
          if (lost) {
            logger.warn(
              { runId, datasetId },
              'dataset lost mid-run; the run is left to be taken over',
            );
            throw new RunStopped('lease-lost');
          }
          throw error;
        }
      } finally {
        release();
      }
    },
    settled(run, outcome) {
      if (!handing.has(run.id)) return false;
      const ownerUrl = handing.get(run.id);
      handing.delete(run.id);
      if (outcome !== 'requeued') return false;
      // Not awaited: the settling job is done; the holder executes the run on its own time.
      if (ownerUrl) void tell(run, ownerUrl);
      return true;
    },
    install(app) {
      app.post(
        RUN_HANDOFF_ROUTE,
        { schema: { hide: true }, config: { public: true } },
        async (request, reply) => {
          const { kind, runId } = request.params as { kind: string; runId: string };
          const header = request.headers[FORWARDED_IDENTITY_HEADER];
          const identity =
            typeof header === 'string'
              ? verifyForwardedIdentity(key, header, request, now())
              : undefined;
          if (!identity)
            throw unauthenticated('Only a server of this deployment may hand a run here');
          // An api server holds no dataset, so it executes no run (issue 20 item 1).
          if (!options.servers.mayHold)
            throw serviceUnavailable('This server (BRAINCELLS_ROLE=api) executes no runs');
          const execute = executors.get(kind);
          if (!KIND.test(kind) || !UUID.test(runId) || !execute) throw notFound('run kind', kind);
          // The run executes after the answer: the sender is not kept waiting for it.
          void execute(runId).catch((error: unknown) =>
            logger.warn({ err: error, runId }, 'a run handed here failed to execute'),
          );
          return reply.status(202).send({ accepted: true });
        },
      );
    },
  };
}

/** 503s that mean "this dataset will be writable here or elsewhere shortly". */
function isBetweenHolders(error: unknown): boolean {
  return (
    isAppError(error) &&
    error.code === 'SERVICE_UNAVAILABLE' &&
    !(error instanceof DatasetOwnedElsewhere) &&
    typeof (error.details as { datasetId?: unknown } | undefined)?.datasetId === 'string'
  );
}
