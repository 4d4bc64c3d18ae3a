import { type Clock, systemClock } from './llm-clock.ts';
import { type Permit, WaiterQueue } from './llm-limiter-queue.ts';

export {
  LimiterTimeoutError,
  type Permit,
  type ReleaseOutcome,
} from './llm-limiter-queue.ts';

export interface LimiterSettings {
  /** The cap: concurrency never goes above it. */
  maxConcurrency: number;
  /** Optional requests-per-minute ceiling (token bucket holding 10 s of traffic). */
  requestsPerMinute: number | undefined;
}

/**
 * What the router needs from a provider's limiter: the in-process `AdaptiveLimiter`, or the
 * Redis-backed `SharedLimiter` (llm-shared-limiter.ts) when several servers share a deployment.
 */
export interface ProviderLimiter {
  /** Current concurrency limit (whole requests). */
  readonly limit: number;
  /** Slots this server holds. */
  readonly inFlight: number;
  readonly waiting: number;
  /** Epoch ms until which a Retry-After pauses new attempts (0: none). */
  readonly pausedUntil: number;
  readonly settings: Readonly<LimiterSettings>;
  configure(settings: LimiterSettings): void;
  /**
   * Waits for a slot. Rejects with the signal's reason on abort, or `LimiterTimeoutError` when
   * `deadline` (epoch ms) passes first.
   */
  acquire(signal?: AbortSignal, deadline?: number): Promise<Permit>;
}

/**
 * Per-provider adaptive concurrency (AIMD, as TCP congestion control): every 429 halves the
 * limit — once per "generation", so a burst of 429s from requests that were all in flight
 * before the first one came back halves it once, not fifty times — and every success adds
 * 1/limit, i.e. about +1 per round of `limit` successful calls. Never below 1, never above
 * the configured cap. A Retry-After on a 429 pauses new attempts to the provider until it has
 * passed. Waiters are served first come, first served.
 */
export class AdaptiveLimiter implements ProviderLimiter {
  #settings: LimiterSettings;
  #limit: number;
  #inFlight = 0;
  #generation = 0;
  #pausedUntil = 0;
  #tokens: number;
  #refilledAt: number;
  readonly #queue: WaiterQueue;
  #wakeTimer: NodeJS.Timeout | undefined;
  readonly #clock: Clock;

  constructor(settings: LimiterSettings, clock: Clock = systemClock) {
    this.#settings = { ...settings };
    this.#limit = settings.maxConcurrency;
    this.#clock = clock;
    this.#tokens = this.#capacity();
    this.#refilledAt = clock.now();
    this.#queue = new WaiterQueue(clock, () => this.#pump());
  }

  /** Current concurrency limit (whole requests). */
  get limit(): number {
    return Math.max(1, Math.floor(this.#limit));
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  get settings(): Readonly<LimiterSettings> {
    return this.#settings;
  }

  /**
   * Applies changed provider settings. A changed cap is what the person asked for now: the
   * limit starts again at it (raised or lowered at once, not grown one step per round), and
   * the next 429 halves it from there as usual.
   */
  configure(settings: LimiterSettings): void {
    const rpmChanged = settings.requestsPerMinute !== this.#settings.requestsPerMinute;
    const capChanged = settings.maxConcurrency !== this.#settings.maxConcurrency;
    this.#settings = { ...settings };
    if (capChanged) {
      this.#limit = settings.maxConcurrency;
      // 429s of requests sent under the old cap must not halve the new one.
      this.#generation += 1;
    }
    if (rpmChanged) this.#tokens = Math.min(this.#tokens, this.#capacity());
    this.#pump();
  }

  /**
   * Waits for a slot. Rejects with the signal's reason on abort, or `LimiterTimeoutError` when
   * `deadline` (epoch ms) passes first.
   */
  acquire(signal?: AbortSignal, deadline?: number): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#queue.length === 0 && this.#grantable()) return Promise.resolve(this.#grant());
    const permit = this.#queue.wait(signal, deadline);
    this.#pump();
    return permit;
  }

  #capacity(): number {
    const rpm = this.#settings.requestsPerMinute;
    return rpm === undefined ? Number.POSITIVE_INFINITY : Math.max(1, Math.ceil(rpm / 6));
  }

  #refill(now: number): void {
    const rpm = this.#settings.requestsPerMinute;
    if (rpm === undefined) return;
    const elapsed = now - this.#refilledAt;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#capacity(), this.#tokens + (elapsed * rpm) / 60_000);
      this.#refilledAt = now;
    }
  }

  #grantable(): boolean {
    if (this.#inFlight >= this.limit) return false;
    const now = this.#clock.now();
    if (now < this.#pausedUntil) return false;
    if (this.#settings.requestsPerMinute === undefined) return true;
    this.#refill(now);
    return this.#tokens >= 1;
  }

  #grant(): Permit {
    this.#inFlight += 1;
    if (this.#settings.requestsPerMinute !== undefined) this.#tokens -= 1;
    const generation = this.#generation;
    let released = false;
    return {
      release: (outcome, retryAfterMs) => {
        if (released) return;
        released = true;
        this.#inFlight -= 1;
        if (outcome === 'success') {
          this.#limit = Math.min(this.#settings.maxConcurrency, this.#limit + 1 / this.#limit);
        } else if (outcome === 'rate-limited') {
          if (generation === this.#generation) {
            this.#limit = Math.max(1, Math.floor(this.#limit / 2));
            this.#generation += 1;
          }
          if (retryAfterMs !== undefined && retryAfterMs > 0) {
            this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock.now() + retryAfterMs);
          }
        }
        this.#pump();
      },
    };
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#grantable()) this.#queue.serve(() => this.#grant());
    if (this.#queue.length === 0 || this.#inFlight >= this.limit) return;
    // Blocked by time (a Retry-After pause or an empty token bucket): wake up when it passes.
    const now = this.#clock.now();
    let wakeAt = this.#pausedUntil;
    const rpm = this.#settings.requestsPerMinute;
    if (rpm !== undefined && this.#tokens < 1) {
      wakeAt = Math.max(wakeAt, now + Math.ceil(((1 - this.#tokens) * 60_000) / rpm));
    }
    if (wakeAt <= now) return;
    if (this.#wakeTimer) clearTimeout(this.#wakeTimer);
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      this.#pump();
    }, wakeAt - now);
  }
}
