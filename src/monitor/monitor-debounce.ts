/**
 * When a watch cycle runs after file events. A plain trailing debounce waits for a quiet
 * moment, and a busy folder (agents streaming into many transcripts, each appending every few
 * hundred milliseconds) is never quiet: the cycle would wait for the periodic reconcile. So a
 * burst is cut at `maxWaitMs` after its first event: the cycle runs `quietMs` after the last
 * event, or `maxWaitMs` after the first one still waiting, whichever comes first.
 */
export interface Debouncer {
  /** A change was seen. */
  touch(): void;
  /** Drops the waiting run. */
  cancel(): void;
}

export interface Timers {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export function createDebouncer(options: {
  quietMs: number;
  maxWaitMs: number;
  run: () => void;
  timers?: Timers;
}): Debouncer {
  const timers = options.timers ?? systemTimers;
  let timer: unknown;
  let firstAt: number | undefined;
  const fire = () => {
    timer = undefined;
    firstAt = undefined;
    options.run();
  };
  return {
    touch() {
      const now = timers.now();
      firstAt ??= now;
      if (timer !== undefined) timers.clearTimeout(timer);
      const wait = Math.min(options.quietMs, Math.max(0, firstAt + options.maxWaitMs - now));
      timer = timers.setTimeout(fire, wait);
    },
    cancel() {
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      firstAt = undefined;
    },
  };
}
