import { type Clock, systemClock } from './llm-clock.ts';

export interface BreakerSettings {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
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
 * A circuit breaker for one provider+model (Nygard, "Release It!"): `failureThreshold`
 * consecutive failures (5xx, network, timeouts — not 4xx, not 429, which the limiter handles)
 * open it; while open, calls fail fast (and go to the fallback chain). After `openMs` one probe
 * is allowed (half-open): success closes the circuit, failure re-opens it for twice as long.
 */
export class CircuitBreaker {
  #state: BreakerState = 'closed';
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

  get consecutiveFailures(): number {
    return this.#failures;
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
    this.#state = 'closed';
    this.#failures = 0;
    this.#openFor = this.#settings.openMs;
    this.#probeInFlight = false;
  }

  onFailure(): void {
    if (this.#probeInFlight || this.#state === 'half-open') {
      this.#probeInFlight = false;
      this.#openFor = Math.min(this.#settings.maxOpenMs, this.#openFor * 2);
      this.#open();
      return;
    }
    this.#failures += 1;
    if (this.#state === 'closed' && this.#failures >= this.#settings.failureThreshold) this.#open();
  }

  /** An attempt ended without telling us anything (cancelled): free the probe slot. */
  onNeutral(probe: boolean): void {
    if (probe) this.#probeInFlight = false;
  }

  #open(): void {
    this.#state = 'open';
    this.#openedAt = this.#clock.now();
  }
}
