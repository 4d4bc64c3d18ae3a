import type { AppError } from '../../platform/app-error.ts';
import type { RunWaiting } from './generation-run-common.ts';

/**
 * How long a rate-limited run waits before it tries again (AI-column runs and generate-rows
 * runs): a call still refused with 429 after the LLM router's own retries hands its work back,
 * and the run waits until the provider's Retry-After — the provider's word is the wait.
 *
 * Only when the provider never named one does the run fall back to a doubling wait (1 s, 2 s,
 * 4 s … 60 s), and that doubling counts only those unnamed waits. Before, every wait counted
 * (named ones too): deep in a storm of short Retry-Afters, one refusal that carried none (an
 * in-stream `rate_limit` error event, a call refused before it reached the provider) jumped to
 * 2^n seconds — a run waiting a minute on a provider that had asked for 5 ms. Now such a
 * refusal waits what the provider last asked for in this storm.
 */
export const RATE_LIMIT_WAIT_BASE_MS = 1_000;
export const RATE_LIMIT_WAIT_MAX_MS = 60_000;

/** What a RATE_LIMITED error says about itself (details set by the LLM module). */
export interface RateLimitNotice {
  retryAfterMs: number | undefined;
  provider: string | null;
  providerName: string | null;
  /** The provider's own words, else our message. */
  message: string;
}

export function rateLimitNotice(error: AppError): RateLimitNotice {
  const details = (error.details ?? {}) as {
    retryAfterMs?: unknown;
    provider?: unknown;
    providerName?: unknown;
    providerMessage?: unknown;
  };
  return {
    retryAfterMs:
      typeof details.retryAfterMs === 'number' && details.retryAfterMs >= 0
        ? details.retryAfterMs
        : undefined,
    provider: typeof details.provider === 'string' ? details.provider : null,
    providerName: typeof details.providerName === 'string' ? details.providerName : null,
    message:
      typeof details.providerMessage === 'string' && details.providerMessage !== ''
        ? details.providerMessage
        : error.message,
  };
}

/** One run's rate-limit wait: refusals in, the time to resume at out. `now` is injectable. */
export class RateLimitWait {
  #until = 0;
  /** The last Retry-After the provider named in this storm. */
  #named: number | undefined;
  /** Waits in a row the provider named no Retry-After for (the doubling's exponent). */
  #unnamedWaits = 0;
  #pendingUnnamed = false;
  #last: RateLimitNotice | undefined;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A call was refused: the wait now lasts at least until what it (or the storm) asks. */
  refused(notice: RateLimitNotice): number {
    let delay = notice.retryAfterMs ?? this.#named;
    if (notice.retryAfterMs !== undefined) this.#named = notice.retryAfterMs;
    if (delay === undefined) {
      delay = Math.min(RATE_LIMIT_WAIT_MAX_MS, RATE_LIMIT_WAIT_BASE_MS * 2 ** this.#unnamedWaits);
      this.#pendingUnnamed = true;
    }
    this.#until = Math.max(this.#until, this.#now() + delay);
    this.#last = notice;
    return this.#until;
  }

  /** The time (ms since the epoch) the run resumes at; 0 when it never was refused. */
  get until(): number {
    return this.#until;
  }

  /** The refusal that set the wait (who refused, in their words). */
  get last(): RateLimitNotice | undefined {
    return this.#last;
  }

  /** Still to wait, ms (0 when the time has passed). */
  remaining(): number {
    return Math.max(0, this.#until - this.#now());
  }

  /** A wait ended: an unnamed one makes the next unnamed one twice as long. */
  waited(): void {
    if (this.#pendingUnnamed) this.#unnamedWaits++;
    this.#pendingUnnamed = false;
  }

  /** A call got through: the storm is over, its backoff and remembered Retry-After go. */
  passed(): void {
    this.#unnamedWaits = 0;
    this.#pendingUnnamed = false;
    this.#named = undefined;
  }
}

/**
 * What a rate-limited run shows while it waits (stored in `generation_run.waiting`): who
 * refused, when it resumes, and the provider's own words when there are any.
 */
export function waitingNotice(
  untilMs: number,
  by: { provider: string | null; providerName: string | null; said: string | undefined },
): RunWaiting {
  const until = new Date(untilMs).toISOString();
  return {
    reason: 'rate-limited',
    until,
    provider: by.provider,
    providerName: by.providerName,
    message: `Rate limited by ${by.providerName ?? 'the provider'}, retrying at ${until.slice(11, 19)} UTC${
      by.said ? ` (${by.said.slice(0, 300)})` : ''
    }`,
  };
}
