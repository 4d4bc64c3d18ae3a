import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { createTestStorage, type TestStorage, testBackends } from '../../test/test-platform.ts';
import { type Database, openDatabase } from './db/database.ts';
import { type EventBusFactory, eventBusContract } from './event-bus-contract.ts';
import { createEventLog } from './event-log.ts';
import { createPostgresEventNotifier, type EventNotifier } from './event-notify.ts';
import {
  createInProcessEventBus,
  type EventBus,
  type InProcessEventBusOptions,
  type StreamEvent,
  type Subscription,
} from './events.ts';

/**
 * Several servers on one PostgreSQL (issue #20 item 2): each server's bus keeps its events in
 * the shared event log and tells the others through LISTEN/NOTIFY. Each "server" here is a bus
 * with a database pool and a listener connection of its own, as in separate processes.
 */
for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`event buses of several servers on ${backend}`, () => {
    let storage: TestStorage;
    const opened: { bus: EventBus; database: Database; notifier: EventNotifier }[] = [];
    const errors: unknown[] = [];

    beforeAll(async () => {
      storage = await createTestStorage(backend);
    });
    afterAll(async () => {
      for (const server of opened.splice(0)) {
        await server.bus.close();
        await server.database.close();
      }
      await storage?.dispose();
    });

    /** A server's bus: its own pool and listener on the shared database. */
    const server = async (options: InProcessEventBusOptions = {}) => {
      const database = await openDatabase({
        kind: 'postgres',
        connectionString: storage.databaseUrl!,
        poolSize: 2,
      });
      const notifier = createPostgresEventNotifier({
        connectionString: storage.databaseUrl!,
        db: database.db,
        onError: (error, operation) => {
          // A listener cut off on purpose (the reconnect test) reports its lost connection.
          if (operation !== 'listen') errors.push(error);
        },
      });
      const listening = listenerUp(database, notifier.origin);
      const bus = createInProcessEventBus({
        log: createEventLog(database.db),
        shared: notifier,
        onError: (error, operation) => {
          if (operation !== 'listen') errors.push(error);
        },
        ...options,
      });
      await listening;
      const entry = { bus, database, notifier };
      opened.push(entry);
      return entry;
    };

    const stop = async (entry: (typeof opened)[number]) => {
      opened.splice(opened.indexOf(entry), 1);
      await entry.bus.close();
      await entry.database.close();
    };

    let counter = 0;
    const freshStream = (label: string) => `cluster:${label}:${process.pid}:${++counter}`;

    /** Everything a subscriber has been given so far, accumulated across reads. */
    const collect = (subscription: Subscription) => {
      const seen: StreamEvent[] = [];
      return () => {
        seen.push(...subscription.take());
        return seen;
      };
    };
    const idsOf = (events: StreamEvent[]) => events.map((event) => event.id);
    const range = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, index) => from + index);

    describe('the event bus contract, "restart" being another server', () => {
      const factory: EventBusFactory = async (options) => {
        const settings = {
          ringSize: options.ringSize,
          retainPerStream: options.ringSize,
          ...(options.bufferLimit === undefined ? {} : { bufferLimit: options.bufferLimit }),
        };
        let current = await server(settings);
        return {
          bus: current.bus,
          restart: async () => {
            await stop(current);
            current = await server(settings);
            return current.bus;
          },
          close: async () => {
            await stop(current);
            expect(errors).toEqual([]);
          },
        };
      };
      eventBusContract(factory, { durable: true });
    });

    it('a subscriber on one server gets the events another server publishes, in order', async () => {
      const [a, b] = [await server(), await server()];
      const stream = freshStream('across');
      const watch = collect(await a.bus.subscribe(stream));
      for (let n = 1; n <= 5; n++) await b.bus.publish(stream, { type: 'e', data: { n } });
      const seen = await eventually(watch, (events) => events.length >= 5, {
        what: 'five events from the other server',
      });
      expect(idsOf(seen)).toEqual(range(1, 5));
      expect(seen.map((event) => (event.data as { n: number }).n)).toEqual(range(1, 5));
      expect(await a.bus.lastId(stream)).toBe(5);
      expect(errors).toEqual([]);
    });

    it('two servers publishing on one stream at once: every subscriber of both sees ids 1..N once, in order', async () => {
      const [a, b] = [await server(), await server()];
      const stream = freshStream('both');
      const onA = collect(await a.bus.subscribe(stream));
      const onB = collect(await b.bus.subscribe(stream));
      const published: StreamEvent[] = [];
      for (let round = 0; round < 10; round++) {
        published.push(
          ...(await Promise.all(
            [a, b, a, b].map((entry, index) =>
              entry.bus.publish(stream, { type: 'e', data: `${round}.${index}` }),
            ),
          )),
        );
      }
      expect(new Set(idsOf(published)).size).toBe(40);
      for (const watch of [onA, onB]) {
        const seen = await eventually(watch, (events) => events.length >= 40, {
          what: 'all 40 events',
        });
        expect(idsOf(seen)).toEqual(range(1, 40));
        // Each id carries the event that was stored under it.
        const byId = new Map(published.map((event) => [event.id, event.data]));
        for (const event of seen) expect(event.data).toEqual(byId.get(event.id));
      }
      expect(errors).toEqual([]);
    });

    it('a client resumes with Last-Event-ID on another server after its server is gone', async () => {
      const [a, b] = [await server(), await server()];
      const stream = freshStream('resume');
      const onA = collect(await a.bus.subscribe(stream));
      for (let n = 1; n <= 6; n++) await a.bus.publish(stream, { type: 'e', data: n });
      const before = await eventually(onA, (events) => events.length >= 6);
      await stop(a);
      for (let n = 7; n <= 9; n++) await b.bus.publish(stream, { type: 'e', data: n });
      const resumed = (await b.bus.subscribe(stream, { lastEventId: before[3]!.id })).take();
      expect(idsOf(resumed)).toEqual(range(5, 9));
      expect(resumed.map((event) => event.data)).toEqual(range(5, 9));
    });

    it('a listener that lost its connection reads what was published meanwhile', async () => {
      const [a, b] = [await server(), await server()];
      const stream = freshStream('gap');
      const onA = collect(await a.bus.subscribe(stream));
      await b.bus.publish(stream, { type: 'e', data: 1 });
      await eventually(onA, (events) => events.length >= 1);
      // Cut a's listener connection; what b publishes now is not announced to a.
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
        where application_name = ${`braincells-events:${a.notifier.origin}`}`.execute(
        b.database.db,
      );
      for (let n = 2; n <= 4; n++) await b.bus.publish(stream, { type: 'e', data: n });
      const seen = await eventually(onA, (events) => events.length >= 4, {
        what: 'the events published while the listener was down',
      });
      expect(idsOf(seen)).toEqual(range(1, 4));
      expect(seen.map((event) => event.data)).toEqual(range(1, 4));
      expect(errors).toEqual([]);
    });
  });
}

/** Resolves once the server's listener connection is up (its LISTEN is registered). */
async function listenerUp(database: Database, origin: string): Promise<void> {
  await eventually(
    async () =>
      (
        await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
          where application_name = ${`braincells-events:${origin}`} and query ilike 'listen%'`.execute(
          database.db,
        )
      ).rows[0]?.n ?? 0,
    (n) => n > 0,
    { what: 'the event listener connection' },
  );
}
