import {
  isPassingOutage,
  outageDelayMs,
  retryOutage as retryDatabaseOutage,
} from '../../platform/db/db-outage.ts';
import type { Logger } from '../../platform/logger.ts';

/**
 * AI-column runs wait out a passing outage of the metadata database (platform/db/db-outage.ts)
 * and carry on with the same cells; it never fails the run or a cell.
 */
export { isPassingOutage, outageDelayMs };

/** Tries of a settling write through a dry pool (~40 s of waits at the longest). */
export const SETTLE_TRIES = 25;

/** `retryOutage` of platform/db/db-outage.ts, logged as "generation waits for the database". */
export function retryOutage<T>(
  work: () => Promise<T>,
  options: { log: Logger; what: string; signal?: AbortSignal; maxTries?: number },
): Promise<T> {
  return retryDatabaseOutage(work, { ...options, message: 'generation waits for the database' });
}
