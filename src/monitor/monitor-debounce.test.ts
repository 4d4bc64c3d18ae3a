import { describe, expect, it } from 'vitest';
import { createDebouncer, type Timers } from './monitor-debounce.ts';

/** A clock the test moves by hand: timers fire in order as time passes. */
function manualTimers() {
  let now = 0;
  let next = 0;
  const pending = new Map<number, { at: number; run: () => void }>();
  const timers: Timers = {
    now: () => now,
    setTimeout: (run, ms) => {
      pending.set(++next, { at: now + ms, run });
      return next;
    },
    clearTimeout: (handle) => void pending.delete(handle as number),
  };
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      const due = [...pending.entries()]
        .filter(([, timer]) => timer.at <= until)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      pending.delete(due[0]);
      now = due[1].at;
      due[1].run();
    }
    now = until;
  };
  return { timers, advance, now: () => now };
}

/** A debouncer of 300 ms quiet / 1 s max wait on a manual clock, and the times it ran. */
function debounced() {
  const clock = manualTimers();
  const runs: number[] = [];
  const debounce = createDebouncer({
    quietMs: 300,
    maxWaitMs: 1_000,
    run: () => runs.push(clock.now()),
    timers: clock.timers,
  });
  return { clock, runs, debounce };
}

describe('watch debounce', () => {
  it('runs once after a quiet time', () => {
    const { clock, runs, debounce } = debounced();
    debounce.touch();
    clock.advance(100);
    debounce.touch();
    clock.advance(299);
    expect(runs).toEqual([]);
    clock.advance(1);
    expect(runs).toEqual([400]);
    clock.advance(5_000);
    expect(runs).toEqual([400]);
  });

  it('cuts a burst that never goes quiet at the maximum wait', () => {
    const { clock, runs, debounce } = debounced();
    // An event every 100 ms for 2.5 s: a trailing-only debounce would not run before the end.
    for (let t = 0; t < 2_500; t += 100) {
      debounce.touch();
      clock.advance(100);
    }
    expect(runs).toEqual([1_000, 2_000]);
    clock.advance(199); // the last event was at 2,400 ms
    expect(runs).toEqual([1_000, 2_000]);
    clock.advance(1);
    expect(runs).toEqual([1_000, 2_000, 2_700]);
  });

  it('drops the waiting run when cancelled', () => {
    const { clock, runs, debounce } = debounced();
    debounce.touch();
    debounce.cancel();
    clock.advance(2_000);
    expect(runs).toEqual([]);
  });
});
