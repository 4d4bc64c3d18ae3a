import type { Clock } from './llm-clock.ts';

export type ReleaseOutcome = 'success' | 'rate-limited' | 'neutral';

export interface Permit {
  /** Call exactly once when the attempt ends. */
  release(outcome: ReleaseOutcome, retryAfterMs?: number): void;
}

export class LimiterTimeoutError extends Error {
  constructor() {
    super('timed out waiting for a provider slot');
    this.name = 'LimiterTimeoutError';
  }
}

interface Waiter {
  resolve: (permit: Permit) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  deadline: number | undefined;
  onAbort: (() => void) | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
}

/** A caller taken out of the queue, to be served elsewhere (with its signal and deadline). */
export interface Handoff {
  signal: AbortSignal | undefined;
  deadline: number | undefined;
  settle(permit: Promise<Permit>): void;
}

/**
 * The callers waiting for a limiter's slot, first come, first served. A waiter leaves on its
 * signal's abort (rejected with the reason) or at its deadline (epoch ms; `LimiterTimeoutError`),
 * and `onLeave` runs so the limiter can serve the next one.
 */
export class WaiterQueue {
  #waiters: Waiter[] = [];
  readonly #clock: Clock;
  readonly #onLeave: () => void;

  constructor(clock: Clock, onLeave: () => void) {
    this.#clock = clock;
    this.#onLeave = onLeave;
  }

  get length(): number {
    return this.#waiters.length;
  }

  /** Queues a caller; the promise resolves with the permit `serve` hands it. */
  wait(signal: AbortSignal | undefined, deadline: number | undefined): Promise<Permit> {
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        deadline,
        onAbort: undefined,
        deadlineTimer: undefined,
      };
      if (signal) {
        waiter.onAbort = () => this.#drop(waiter, signal.reason);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      if (deadline !== undefined) {
        waiter.deadlineTimer = setTimeout(
          () => this.#drop(waiter, new LimiterTimeoutError()),
          Math.max(0, deadline - this.#clock.now()),
        );
      }
      this.#waiters.push(waiter);
    });
  }

  /** Hands the first waiter the permit `grant` makes; false (and no permit made) when none waits. */
  serve(grant: () => Permit): boolean {
    const waiter = this.#waiters.shift();
    if (!waiter) return false;
    this.#settle(waiter);
    waiter.resolve(grant());
    return true;
  }

  /** Empties the queue: each caller is then served by whoever takes it. */
  takeAll(): Handoff[] {
    return this.#waiters.splice(0).map((waiter) => {
      this.#settle(waiter);
      return {
        signal: waiter.signal,
        deadline: waiter.deadline,
        settle: (permit) => permit.then(waiter.resolve, waiter.reject),
      };
    });
  }

  #drop(waiter: Waiter, reason: unknown): void {
    const index = this.#waiters.indexOf(waiter);
    if (index === -1) return;
    this.#waiters.splice(index, 1);
    this.#settle(waiter);
    waiter.reject(reason);
    this.#onLeave();
  }

  #settle(waiter: Waiter): void {
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    if (waiter.deadlineTimer) clearTimeout(waiter.deadlineTimer);
  }
}
