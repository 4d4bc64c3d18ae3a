// Several servers on one PostgreSQL (issue #20):
//  1. Event delivery across servers: two servers' event buses, each with its own pool and
//     listener, as in two processes. An event published on server A reaches a subscriber on
//     server B through the event log and LISTEN/NOTIFY (event-notify.ts); the same event's
//     delivery to a subscriber on A itself is measured in the same run as the peer.
//  2. Real `braincells serve` processes (bench/cluster-servers-bench.ts): AI-column fill on 1
//     vs 3 servers against N·L̄/C with the provider cap, a dataset window through a server that
//     forwards it vs its holder, and how long a killed holder's dataset takes to be writable.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- cluster
//
// Without DATABASE_URL it reports nothing. CLUSTER_BENCH_EVENTS shrinks the first part;
// CLUSTER_BENCH_SERVERS=0 skips the second (see its file for its own settings).
import { setTimeout as delay } from 'node:timers/promises';
import { sql } from 'kysely';
import { createClusterDatabase } from '../scripts/cluster-servers.ts';
import { type Database, openDatabase } from '../src/platform/db/database.ts';
import { createEventLog } from '../src/platform/event-log.ts';
import { createPostgresEventNotifier } from '../src/platform/event-notify.ts';
import { createInProcessEventBus, type EventBus } from '../src/platform/events.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { clusterServersBench } from './cluster-servers-bench.ts';

const EVENTS = Number(process.env.CLUSTER_BENCH_EVENTS ?? 1_000);
const GOAL_P99_MS = 250;

async function server(url: string): Promise<{ bus: EventBus; database: Database }> {
  const database = await openDatabase({ kind: 'postgres', connectionString: url, poolSize: 4 });
  const notifier = createPostgresEventNotifier({ connectionString: url, db: database.db });
  const bus = createInProcessEventBus({ log: createEventLog(database.db), shared: notifier });
  // Listening before the first event: the listener connection shows in pg_stat_activity.
  for (;;) {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
      where application_name = ${`braincells-events:${notifier.origin}`} and query ilike 'listen%'`.execute(
      database.db,
    );
    if ((rows[0]?.n ?? 0) > 0) break;
    await delay(20);
  }
  return { bus, database };
}

export default async function clusterBench(): Promise<BenchRow[]> {
  if (!process.env.DATABASE_URL) return [];
  const rows = await eventsBench(process.env.DATABASE_URL);
  if (process.env.CLUSTER_BENCH_SERVERS === '0') return rows;
  return [...rows, ...(await clusterServersBench(process.env.DATABASE_URL))];
}

async function eventsBench(databaseUrl: string): Promise<BenchRow[]> {
  const created = await createClusterDatabase(databaseUrl);
  const [a, b] = [await server(created.url), await server(created.url)];
  try {
    const stream = 'bench:cluster';
    const here = await a.bus.subscribe(stream);
    const there = await b.bus.subscribe(stream);
    const local: number[] = [];
    const remote: number[] = [];
    // One event at a time, paced like a chat reply's deltas (every 10 ms): the time from
    // publish until each subscriber is told.
    for (let n = 0; n < EVENTS; n++) {
      const started = performance.now();
      const reached = (subscription: typeof here, into: number[]) =>
        new Promise<void>((resolve) => {
          subscription.onReady(() => {
            if (subscription.take().length === 0) return;
            into.push(performance.now() - started);
            resolve();
          });
        });
      const both = Promise.all([reached(here, local), reached(there, remote)]);
      void a.bus.publish(stream, { type: 'bench', data: { n } });
      await both;
      await delay(10);
    }
    here.close();
    there.close();
    const p99 = (values: number[]) =>
      round(
        percentile(
          [...values].sort((x, y) => x - y),
          99,
        ),
      );
    const remoteP99 = p99(remote);
    const localP99 = p99(local);
    return [
      {
        name: 'event delivery p99, publisher on another server',
        value: remoteP99,
        unit: 'ms',
        against: { label: 'same server', value: localP99 },
        ratio: round(remoteP99 / Math.max(localP99, 0.01)),
        goal: `< ${GOAL_P99_MS} ms`,
        pass: remoteP99 < GOAL_P99_MS,
      },
      {
        name: 'event delivery p50, publisher on another server',
        value: round(
          percentile(
            [...remote].sort((x, y) => x - y),
            50,
          ),
        ),
        unit: 'ms',
      },
    ];
  } finally {
    for (const { bus, database } of [a, b]) {
      await bus.close();
      await database.close();
    }
    await created.drop();
  }
}
