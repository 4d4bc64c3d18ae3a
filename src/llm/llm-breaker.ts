import { type Clock, systemClock } from './llm-clock.ts';
import type { ProviderFailure } from './llm-provider.ts';

export interface BreakerSettings {
  /** Failures among the last `window` outcomes that open the circuit (if also ≥ half of them). */
  failureThreshold: number;
  /** How many recent outcomes are weighed (default 20). */
  window?: number;
  /** How long it stays open before one probe is let through; doubles after a failed probe. */
  openMs: number;
  /** Ceiling for the doubled open time. */
  maxOpenMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export type BreakerDecision =
  | { allowed: true; probe: boolean }
  | { allowed: false; retryInMs: number };

/**
 * What the router needs from a provider+model's breaker: the in-process `CircuitBreaker`, or
 * the Redis-backed `SharedBreaker` (llm-shared-breaker.ts) that every server of a deployment
 * sees. Outcomes are reported without waiting; `allow()` may ask Redis.
 */
export interface ProviderBreaker {
  readonly state: BreakerState;
  /** The failure that opened it, to say why a call was refused. */
  readonly lastFailure: ProviderFailure | undefined;
  allow(): BreakerDecision | Promise<BreakerDecision>;
  onSuccess(): void;
  onFailure(failure?: ProviderFailure): void;
  onNeutral(probe: boolean): void;
}

/**
 * A circuit breaker for one provider+model (Nygard, "Release It!"). Failures are 5xx, network
 * errors and timeouts — not 4xx, not 429, which the limiter handles. It opens when, among the
 * last `window` outcomes, at least `failureThreshold` are failures and they are at least half:
 * called one at a time, that is `failureThreshold` failures in a row; under heavy concurrency a
 * few stray connection resets among hundreds of successes do not stop the provider. While open,
 * calls fail fast (and go to the fallback chain). After `openMs` one probe is allowed
 * (half-open): success closes the circuit, failure re-opens it for twice as long.
 */
export class CircuitBreaker implements ProviderBreaker {
  #state: BreakerState = 'closed';
  /** Recent outcomes while closed, oldest first: true = success. */
  #recent: boolean[] = [];
  #failures = 0;
  #openedAt = 0;
  #openFor: number;
  #probeInFlight = false;
  readonly #settings: BreakerSettings;
  readonly #clock: Clock;

  constructor(settings: BreakerSettings, clock: Clock = systemClock) {
    this.#settings = settings;
    this.#openFor = settings.openMs;
    this.#clock = clock;
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#openFor) {
      return 'half-open';
    }
    return this.#state;
  }

  /** Failures among the recent outcomes. */
  get recentFailures(): number {
    return this.#failures;
  }

  #record(success: boolean): void {
    this.#recent.push(success);
    if (!success) this.#failures += 1;
    if (this.#recent.length > (this.#settings.window ?? 20)) {
      if (this.#recent.shift() === false) this.#failures -= 1;
    }
  }

  allow(): BreakerDecision {
    const state = this.state;
    if (state === 'closed') return { allowed: true, probe: false };
    if (state === 'half-open' && !this.#probeInFlight) {
      this.#state = 'half-open';
      this.#probeInFlight = true;
      return { allowed: true, probe: true };
    }
    const retryInMs =
      this.#state === 'open'
        ? Math.max(0, this.#openedAt + this.#openFor - this.#clock.now())
        : this.#settings.openMs;
    return { allowed: false, retryInMs };
  }

  /** The provider answered (even with a 4xx): it is up. */
  onSuccess(): void {
    if (this.#state !== 'closed') {
      this.#recent = [];
      this.#failures = 0;
    }
    this.#state = 'closed';
    this.#openFor = this.#settings.openMs;
    this.#probeInFlight = false;
    this.#record(true);
  }

  /**
   * The last failure counted (the provider's own words included), so a call refused while the
   * circuit is open can say why it opened rather than only "circuit open".
   */
  lastFailure: ProviderFailure | undefined;

  onFailure(failure?: ProviderFailure): void {
    if (failure) this.lastFailure = failure;
    if (this.#probeInFlight || this.#state === 'half-open') {
      this.#probeInFlight = false;
      this.#openFor = Math.min(this.#settings.maxOpenMs, this.#openFor * 2);
      this.#open();
      return;
    }
    if (this.#state !== 'closed') return;
    this.#record(false);
    if (
      this.#failures >= this.#settings.failureThreshold &&
      this.#failures * 2 >= this.#recent.length
    ) {
      this.#open();
    }
  }

  /** An attempt ended without telling us anything (cancelled): free the probe slot. */
  onNeutral(probe: boolean): void {
    if (probe) this.#probeInFlight = false;
  }

  #open(): void {
    this.#state = 'open';
    this.#openedAt = this.#clock.now();
    this.#recent = [];
    this.#failures = 0;
  }
}
