import { setTimeout as sleep } from 'node:timers/promises';
import { isAppError } from '../app-error.ts';
import type { Logger } from '../logger.ts';

/** First wait after an outage; doubled per failure in a row, up to OUTAGE_MAX_MS. */
const OUTAGE_FIRST_MS = 50;
const OUTAGE_MAX_MS = 2_000;

/**
 * A passing outage of our own storage (issue #20): the metadata database's pool ran dry or
 * PostgreSQL did not answer — `SERVICE_UNAVAILABLE`, retryable, "retry shortly". Work that must
 * not be lost (a run's cell writes, its settling write) waits it out. A 503 that names a
 * dataset (held by another server, between holders, lease lost) is not one: runs leave it to
 * the hand-off and the engine's lease (platform/datasets/dataset-run-handoff.ts).
 */
export function isPassingOutage(error: unknown): boolean {
  return (
    isAppError(error) &&
    error.code === 'SERVICE_UNAVAILABLE' &&
    error.retryable &&
    typeof (error.details as { datasetId?: unknown } | undefined)?.datasetId !== 'string'
  );
}

/** The wait before try `failures + 1` (failures ≥ 1): doubling, capped, with ±25 % jitter so waiters spread out. */
export function outageDelayMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(OUTAGE_MAX_MS, OUTAGE_FIRST_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * Runs `work`, waiting out passing outages (`isPassingOutage`) between tries until it succeeds,
 * `signal` aborts (the last error is thrown) or `maxTries` is reached; any other error is thrown
 * at once. Each wait is logged (warn) with `message`, `what` and the failures so far.
 */
export async function retryOutage<T>(
  work: () => Promise<T>,
  options: {
    log: Logger;
    what: string;
    message?: string;
    signal?: AbortSignal;
    maxTries?: number;
  },
): Promise<T> {
  const maxTries = options.maxTries ?? Number.POSITIVE_INFINITY;
  for (let failures = 1; ; failures++) {
    try {
      return await work();
    } catch (error) {
      if (!isPassingOutage(error) || failures >= maxTries || options.signal?.aborted) throw error;
      const delay = outageDelayMs(failures);
      options.log.warn(
        { err: error, what: options.what, failures, retryInMs: delay },
        options.message ?? 'waiting for the database',
      );
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : {}).catch(
        () => {},
      );
      if (options.signal?.aborted) throw error;
    }
  }
}
