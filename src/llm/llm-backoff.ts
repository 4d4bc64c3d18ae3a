/**
 * Retry delays: exponential backoff with "full jitter" (AWS Architecture Blog, "Exponential
 * Backoff And Jitter", 2015): delay = random(0, min(cap, base · 2^(retry-1))). Full jitter
 * spreads a burst of failed callers evenly, so they do not come back in lock-step.
 * A provider's Retry-After is a floor: we never come back sooner than asked.
 */
export interface BackoffPolicy {
  /** First retry's upper bound, ms. */
  baseMs: number;
  /** Upper bound of any computed delay, ms. */
  capMs: number;
  /** A Retry-After longer than this is not waited for: the call fails instead. */
  maxRetryAfterMs: number;
}

/** `retry` is 1 for the first retry. `random01` is injectable so tests are deterministic. */
export function backoffDelayMs(
  policy: BackoffPolicy,
  retry: number,
  retryAfterMs: number | undefined,
  random01: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.floor(random01() * ceiling);
  if (retryAfterMs === undefined) return jittered;
  // Honour the server's ask, plus a little jitter so a crowd told "1 s" does not stampede.
  return retryAfterMs + Math.floor(random01() * Math.min(policy.baseMs, ceiling));
}
