// tools/fake-llm in a child process that also measures, from the provider's side, how many
// requests are open over time: a benchmark that claims a concurrency of C can check that the
// "provider" really saw C at once, and when it did not (a slow start, gaps between batches, a
// long tail). Started by `spawnOccupancyFake` (below, in the parent) over an IPC channel:
// 'start' clears the counters, 'report' answers the occupancy since then.
import { fork } from 'node:child_process';
import type { FaultOptions } from '../tools/fake-llm/fake-llm-faults.ts';
import { startFakeLlm } from '../tools/fake-llm/fake-llm-server.ts';

/** Requests open over a window, weighted by time (not sampled). */
export interface Occupancy {
  /** Window length, first 'start' (or first request after it) to 'report'. */
  windowMs: number;
  received: number;
  completed: number;
  /** Time-weighted mean of the open requests over the window. */
  meanInFlight: number;
  maxInFlight: number;
  /** Time-weighted mean per slice of the window (`sliceMs` each), to see ramps and gaps. */
  slices: number[];
  sliceMs: number;
  /** Share of the window with at least `atLeast` requests open. */
  shareAtLeast: number;
  atLeast: number;
  /** Epoch ms when the first request of the window came in, and when the open count last fell to 0. */
  firstRequestAt: number | null;
  lastIdleAt: number | null;
}

/**
 * Adds `open` requests held from `from` to `to` to `areas`, the per-slice areas of a window that
 * started at `startedAt`. Slices are walked by index: a boundary recomputed from `from` can
 * round to `from` itself (a window started at 15134.0438… ms, at its fifth boundary) and the
 * walk would never move on — the child then spun at 100 % CPU and answered no call, and the
 * bench waited on it for good (the stalls seen in `documents-extraction`).
 */
export function addToSlices(
  areas: number[],
  startedAt: number,
  sliceMs: number,
  from: number,
  to: number,
  open: number,
) {
  let slice = Math.max(0, Math.floor((from - startedAt) / sliceMs));
  while (from < to) {
    const end = Math.min(to, startedAt + (slice + 1) * sliceMs);
    if (end > from) {
      areas[slice] = (areas[slice] ?? 0) + open * (end - from);
      from = end;
    }
    slice++;
  }
}

const isChild = process.argv[2] === '--occupancy-child';

if (isChild) {
  const defaults = JSON.parse(process.argv[3] ?? '{}') as Partial<FaultOptions>;
  const fake = await startFakeLlm({ port: 0, defaults, record: false });
  // Integrates the open count each time it may have changed: the fake's stats are read on
  // every tick of a 1 ms timer, which is how often the count can be observed from outside.
  let startedAt = 0;
  let last = 0;
  let open = 0;
  let area = 0;
  let atLeastMs = 0;
  let atLeast = 1;
  let max = 0;
  let received0 = 0;
  let completed0 = 0;
  let sliceMs = 250;
  let sliceAreas: number[] = [];
  let firstRequestAt: number | null = null;
  let lastIdleAt: number | null = null;
  const advance = (now: number) => {
    addToSlices(sliceAreas, startedAt, sliceMs, last, now, open);
    area += open * (now - last);
    if (open >= atLeast) atLeastMs += now - last;
    last = now;
  };
  let timer: NodeJS.Timeout | undefined;
  process.on('message', (message: { type: string; atLeast?: number; sliceMs?: number }) => {
    if (message.type === 'start') {
      startedAt = performance.now();
      last = startedAt;
      area = 0;
      atLeastMs = 0;
      max = 0;
      sliceAreas = [];
      firstRequestAt = null;
      lastIdleAt = null;
      atLeast = message.atLeast ?? 1;
      sliceMs = message.sliceMs ?? 250;
      const stats = fake.stats();
      received0 = stats.received;
      completed0 = stats.completed;
      open = stats.inFlight;
      clearInterval(timer);
      timer = setInterval(() => {
        const now = performance.now();
        advance(now);
        const stats = fake.stats();
        if (firstRequestAt === null && stats.received > received0) firstRequestAt = Date.now();
        if (open > 0 && stats.inFlight === 0) lastIdleAt = Date.now();
        open = stats.inFlight;
        max = Math.max(max, open);
      }, 1);
    } else if (message.type === 'report') {
      const now = performance.now();
      advance(now);
      clearInterval(timer);
      const stats = fake.stats();
      const windowMs = now - startedAt;
      const report: Occupancy = {
        windowMs,
        received: stats.received - received0,
        completed: stats.completed - completed0,
        meanInFlight: windowMs > 0 ? area / windowMs : 0,
        maxInFlight: max,
        slices: sliceAreas.map((value, index) => {
          const length = Math.min(sliceMs, windowMs - index * sliceMs);
          return length > 0 ? Math.round((10 * (value ?? 0)) / length) / 10 : 0;
        }),
        sliceMs,
        shareAtLeast: windowMs > 0 ? atLeastMs / windowMs : 0,
        atLeast,
        firstRequestAt,
        lastIdleAt,
      };
      process.send?.(report);
    }
  });
  process.send?.({ url: fake.url });
  process.once('SIGTERM', () => {
    clearInterval(timer);
    void fake.close().then(() => process.exit(0));
  });
}

/** The fake LLM in its own process with the occupancy meter (see above). */
export async function spawnOccupancyFake(defaults: Partial<FaultOptions>) {
  const child = fork(import.meta.filename, ['--occupancy-child', JSON.stringify(defaults)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message: { url: string }) => resolve(message.url));
    child.once('exit', (code) => reject(new Error(`fake-llm exited ${code}`)));
  });
  return {
    url,
    /** Starts the window (counters cleared). */
    start(options: { atLeast: number; sliceMs?: number }) {
      child.send({ type: 'start', ...options });
    },
    /** The occupancy since `start`. */
    report(): Promise<Occupancy> {
      const answer = new Promise<Occupancy>((resolve) =>
        child.once('message', (message: Occupancy) => resolve(message)),
      );
      child.send({ type: 'report' });
      return answer;
    },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
