// The event bus on the cell-streaming hot path (issue 13): events/s a publisher gets with the
// durable log (PGlite, group commit) against the memory-only bus in the same run, the time
// from publish to delivery with the log, and that a subscriber that never reads costs the
// publisher nothing (coalescing keeps its queue bounded).
//
//   npm run bench -- event-bus
//
// EVENT_BUS_BENCH_EVENTS shrinks the run for a quick look.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrator.ts';
import { createEventLog } from '../src/platform/event-log.ts';
import { createInProcessEventBus, type EventBus } from '../src/platform/events.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';

const EVENTS = Number(process.env.EVENT_BUS_BENCH_EVENTS ?? 50_000);
/** A `cells-update` of one committed batch: 20 presented cells. */
const payload = (n: number) => ({
  columnId: '0193a0c4-0000-7000-8000-000000000001',
  cells: Array.from({ length: 20 }, (_, index) => ({
    rowId: String(n * 20 + index),
    value: `A generated answer of ordinary length for row ${n * 20 + index}.`,
    status: 'done',
    version: 3,
    validated: false,
    error: null,
  })),
});

/** Publishes like the cell committer (fire-and-forget, a batch per turn), waits for the last. */
async function throughput(bus: EventBus, stream: string): Promise<number> {
  const started = performance.now();
  let last: Promise<unknown> = Promise.resolve();
  for (let n = 0; n < EVENTS; n++) {
    last = bus.publish(stream, { type: 'cells-update', data: payload(n) });
    // Cell batches commit every few milliseconds, not in one synchronous loop.
    if (n % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  await last;
  return (EVENTS * 1000) / (performance.now() - started);
}

/** Publish → delivered to a subscriber, one batch at a time. */
async function deliveryLatencies(bus: EventBus, stream: string): Promise<number[]> {
  const subscription = await bus.subscribe(stream);
  const latencies: number[] = [];
  for (let n = 0; n < Math.min(2_000, EVENTS); n++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      subscription.onReady(() => {
        subscription.take();
        resolve();
      });
      void bus.publish(stream, { type: 'cells-update', data: payload(n) });
    });
    latencies.push(performance.now() - started);
  }
  subscription.close();
  return latencies.sort((a, b) => a - b);
}

export default async function eventBusBench(): Promise<BenchRow[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-bench-events-'));
  const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'pg') });
  try {
    await migrateToLatest(database.db);
    const memory = createInProcessEventBus();
    const durable = createInProcessEventBus({ log: createEventLog(database.db) });
    const memoryRate = await throughput(memory, 'bench:memory');
    const durableRate = await throughput(durable, 'bench:durable');
    const latencies = await deliveryLatencies(durable, 'bench:latency');

    // A subscriber that never reads, beside the publisher.
    const stuck = await durable.subscribe('bench:stuck', { bufferLimit: 1_000 });
    stuck.onReady(() => {});
    const stuckRate = await throughput(durable, 'bench:stuck');
    const held = stuck.take().length;
    await durable.close();
    return [
      {
        name: 'event bus: publish, memory only',
        value: round(memoryRate, 0),
        unit: 'events/s',
      },
      {
        name: 'event bus: publish with the durable log (PGlite)',
        value: round(durableRate, 0),
        unit: 'events/s',
        against: { label: 'memory only', value: round(memoryRate, 0) },
        ratio: round(durableRate / memoryRate, 3),
      },
      {
        name: 'event bus: publish → delivered with the log, p50 / p99',
        value: round(percentile(latencies, 50), 2),
        unit: `ms (p99 ${round(percentile(latencies, 99), 2)} ms)`,
      },
      {
        name: 'event bus: publish beside a subscriber that never reads',
        value: round(stuckRate, 0),
        unit: `events/s (its queue: ${held} events)`,
        against: { label: 'without it', value: round(durableRate, 0) },
        ratio: round(stuckRate / durableRate, 3),
      },
    ];
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
