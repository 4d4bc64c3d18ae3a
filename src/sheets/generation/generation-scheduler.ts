/**
 * How a run spends its concurrency. The seed system ran cells in batches of 5 and waited for
 * the slowest of each batch before starting the next; with latencies of 200 ± 100 ms a batch
 * takes its slowest call (~300 ms), so the slots sit idle a third of the time. A sliding
 * window starts the next cell the moment any call ends: throughput approaches C / L̄.
 * The LLM module's per-provider adaptive limiter may hold a started call back further (after
 * 429s); the window's cap is per run, the limiter's per provider, and both apply.
 */
export interface ScheduleOptions<T> {
  items: AsyncIterable<T>;
  /** Cap on items in flight, read before each start (it may change during a run). */
  concurrency: () => number;
  /** Runs one item. Must not throw: failures are the item's business (a failed cell is data). */
  run: (item: T) => Promise<void>;
  /** Aborting it stops taking new items; items in flight finish (or abort through their own signal). */
  signal: AbortSignal;
}

export interface ScheduleResult {
  started: number;
  /** True when the source was read to its end (not stopped by the signal). */
  exhausted: boolean;
}

/** Sliding window: keeps up to `concurrency()` items in flight, never waiting for a batch. */
export async function slidingWindow<T>(options: ScheduleOptions<T>): Promise<ScheduleResult> {
  const { items, run, signal } = options;
  const iterator = items[Symbol.asyncIterator]();
  const inFlight = new Set<Promise<void>>();
  let started = 0;
  let exhausted = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const freed = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    while (!signal.aborted && failure === undefined) {
      if (inFlight.size >= Math.max(1, options.concurrency())) {
        await freed();
        continue;
      }
      const next = await iterator.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      if (signal.aborted) break;
      started++;
      const task: Promise<void> = run(next.value)
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => {
          inFlight.delete(task);
          wake?.();
        });
      inFlight.add(task);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await Promise.all(inFlight);
    if (!exhausted) await iterator.return?.();
  }
  if (failure !== undefined) throw failure;
  return { started, exhausted };
}

/**
 * The seed system's scheduler, kept only to measure against (bench/generation.bench.ts): start
 * `concurrency()` items, wait for all of them, repeat.
 */
export async function batchBarrier<T>(options: ScheduleOptions<T>): Promise<ScheduleResult> {
  const { items, run, signal } = options;
  let batch: T[] = [];
  let started = 0;
  let exhausted = true;
  const flush = async () => {
    started += batch.length;
    await Promise.all(batch.map((item) => run(item)));
    batch = [];
  };
  for await (const item of items) {
    if (signal.aborted) {
      exhausted = false;
      break;
    }
    batch.push(item);
    if (batch.length >= Math.max(1, options.concurrency())) await flush();
  }
  if (batch.length > 0) await flush();
  return { started, exhausted };
}
