import { type RawBuilder, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Backend,
  createTestStorage,
  openTestDatabase,
  type TestStorage,
  testBackends,
} from '../../test/test-platform.ts';
import type { Database } from './db/database.ts';
import { type EventBusFactory, eventBusContract } from './event-bus-contract.ts';
import { createEventLog, type EventLog } from './event-log.ts';
import { createInProcessEventBus, type InProcessEventBusOptions, RESYNC_EVENT } from './events.ts';

describe('in-process event bus, memory only', () => {
  eventBusContract(
    async (options) => ({
      bus: createInProcessEventBus({
        ringSize: options.ringSize,
        ...(options.bufferLimit === undefined ? {} : { bufferLimit: options.bufferLimit }),
      }),
      close: async () => {},
    }),
    { durable: false },
  );
});

/** One migrated database per backend for the file; each test uses streams of its own. */
function durableSuite(backend: Backend) {
  let storage: TestStorage;
  let database: Database;
  const open = () => openTestDatabase(storage);
  beforeAll(async () => {
    storage = await createTestStorage(backend);
    database = await open();
  });
  afterAll(async () => {
    await database?.close();
    await storage?.dispose();
  });

  const errors: unknown[] = [];
  const busOn = (options: InProcessEventBusOptions & { log?: EventLog }) =>
    createInProcessEventBus({
      log: createEventLog(database.db),
      onError: (error) => errors.push(error),
      ...options,
    });
  /** Closes the bus and the database, and opens both again: a restart. */
  const restart = async (
    bus: { close(): Promise<void> },
    options: InProcessEventBusOptions = {},
  ) => {
    await bus.close();
    await database.close();
    database = await open();
    return busOn(options);
  };
  const rowsOf = async (stream: string) =>
    (
      await database.db
        .selectFrom('event_log')
        .select('id')
        .where('stream', '=', stream)
        .orderBy('id')
        .execute()
    ).map((row) => Number(row.id));

  return { busOn, restart, rowsOf, errors, database: () => database };
}

for (const backend of testBackends()) {
  describe(`in-process event bus with its log on ${backend}`, () => {
    const suite = durableSuite(backend);
    const factory: EventBusFactory = async (options) => {
      const settings = {
        ringSize: options.ringSize,
        retainPerStream: options.ringSize,
        ...(options.bufferLimit === undefined ? {} : { bufferLimit: options.bufferLimit }),
      };
      let bus = suite.busOn(settings);
      return {
        bus,
        restart: async () => {
          bus = await suite.restart(bus, settings);
          return bus;
        },
        close: async () => {
          await bus.close();
          expect(suite.errors).toEqual([]);
        },
      };
    };
    eventBusContract(factory, { durable: true });

    it('stores a burst of publishes with one INSERT (group commit)', async () => {
      const real = createEventLog(suite.database().db);
      let appends = 0;
      const bus = suite.busOn({
        log: {
          ...real,
          append: (entries) => {
            appends++;
            return real.append(entries);
          },
        },
      });
      await bus.publish('burst:warm', { type: 'e', data: 0 });
      appends = 0;
      const published = await Promise.all(
        Array.from({ length: 500 }, (_, n) => bus.publish('burst:one', { type: 'e', data: n })),
      );
      expect(appends).toBe(1);
      expect(await suite.rowsOf('burst:one')).toEqual(published.map((event) => event.id));
      await bus.close();
    });

    it('stores an event with a publisher’s own statement; one that fails is not delivered', async () => {
      const db = suite.database().db;
      let appends = 0;
      const real = createEventLog(db);
      const bus = suite.busOn({
        log: {
          ...real,
          append: async (entries) => {
            appends++;
            await real.append(entries);
          },
        },
      });
      const live = await bus.subscribe('with:a');
      const statements: string[] = [];
      const storeWith = async (insert: RawBuilder<unknown>) => {
        const { rows } = await sql<{ n: number }>`
          with stored as (${insert} returning id) select count(*)::int as n from stored`.execute(
          db,
        );
        statements.push(`stored ${rows[0]!.n}`);
      };
      // Published in one turn: the plain ones ride in the publisher's statement.
      const first = await Promise.all([
        bus.publish('with:a', { type: 'e', data: 1 }),
        bus.publish('with:b', { type: 'e', data: 2 }),
        bus.publish('with:a', { type: 'e', data: 3 }, { storeWith }),
      ]);
      expect(first.map((event) => event.id)).toEqual([1, 1, 2]);
      expect(statements).toEqual(['stored 3']);
      expect(appends).toBe(0);
      expect(await suite.rowsOf('with:a')).toEqual([1, 2]);
      expect(ids(live.take())).toEqual([1, 2]);

      // The publisher's statement fails: its event is dropped, its id given back, the others
      // of its batch stored as usual.
      const failing = Promise.all([
        bus.publish('with:a', { type: 'e', data: 4 }),
        bus.publish(
          'with:a',
          { type: 'e', data: 5 },
          {
            storeWith: async () => {
              throw new Error('row gone');
            },
          },
        ),
      ]);
      await expect(failing).rejects.toThrow('row gone');
      expect((await bus.publish('with:a', { type: 'e', data: 6 })).id).toBe(4);
      expect(await suite.rowsOf('with:a')).toEqual([1, 2, 3, 4]);
      expect(live.take().map((event) => event.data)).toEqual([4, 6]);
      await bus.close();
    });

    it('two processes on one database never give one id twice (ids taken are renumbered)', async () => {
      const first = suite.busOn({});
      const second = suite.busOn({});
      const watchFirst = await first.subscribe('shared:a');
      const published = [];
      for (let n = 0; n < 20; n++) {
        const bus = n % 3 === 0 ? second : first;
        published.push(
          ...(await Promise.all([
            bus.publish('shared:a', { type: 'e', data: `${n}.1` }),
            bus.publish('shared:a', { type: 'e', data: `${n}.2` }),
          ])),
        );
      }
      const all = published.map((event) => event.id);
      expect(new Set(all).size).toBe(40);
      expect(await suite.rowsOf('shared:a')).toEqual([...all].sort((a, b) => a - b));
      // Each process's own subscribers see its events in order, ids increasing.
      const seen = ids(watchFirst.take());
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(seen).toHaveLength(26);
      await first.close();
      await second.close();
      expect(suite.errors).toEqual([]);
    });

    it('keeps between retainPerStream and twice that many events per stream', async () => {
      const bus = suite.busOn({ ringSize: 5, retainPerStream: 10 });
      for (let n = 1; n <= 95; n++) await bus.publish('retain:a', { type: 'e', data: n });
      await bus.close();
      const kept = await suite.rowsOf('retain:a');
      expect(kept.at(-1)).toBe(95);
      expect(kept.length).toBeGreaterThanOrEqual(10);
      expect(kept.length).toBeLessThanOrEqual(20);
      const after = await suite.restart(bus, { ringSize: 5, retainPerStream: 10 });
      expect(ids((await after.subscribe('retain:a', { lastEventId: 85 })).take())).toEqual([
        86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
      ]);
      expect((await after.subscribe('retain:a', { lastEventId: 50 })).take()[0]!.type).toBe(
        RESYNC_EVENT,
      );
      await after.close();
    });

    it('drops events past the age limit but keeps each stream’s last id', async () => {
      let clock = Date.now();
      const options = { now: () => clock, retentionMs: 86_400_000 };
      const bus = suite.busOn(options);
      for (let n = 1; n <= 3; n++) await bus.publish('age:quiet', { type: 'e', data: n });
      clock += 25 * 3_600_000;
      await bus.publish('age:busy', { type: 'e', data: 1 });
      await bus.close();
      expect(await suite.rowsOf('age:quiet')).toEqual([3]);
      const after = await suite.restart(bus, options);
      expect((await after.publish('age:quiet', { type: 'e', data: 4 })).id).toBe(4);
      // The client from before the quiet spell reloads; one at the last id goes on.
      expect((await after.subscribe('age:quiet', { lastEventId: 1 })).take()[0]!.type).toBe(
        RESYNC_EVENT,
      );
      await after.close();
    });

    it('delivers events it could not store, and a resume across them resyncs', async () => {
      const real = createEventLog(suite.database().db);
      let failNext = false;
      const failures: string[] = [];
      const bus = createInProcessEventBus({
        log: {
          ...real,
          append: async (entries) => {
            if (failNext) {
              failNext = false;
              throw new Error('disk full');
            }
            await real.append(entries);
          },
        },
        onError: (_error, operation) => failures.push(operation),
      });
      const live = await bus.subscribe('gap:a');
      for (let n = 1; n <= 5; n++) {
        failNext = n === 3;
        await bus.publish('gap:a', { type: 'e', data: n });
      }
      expect(ids(live.take())).toEqual([1, 2, 3, 4, 5]);
      expect(failures).toEqual(['append']);
      const after = await suite.restart(bus);
      expect(await after.lastId('gap:a')).toBe(5);
      expect((await after.subscribe('gap:a', { lastEventId: 2 })).take()[0]!.type).toBe(
        RESYNC_EVENT,
      );
      expect(ids((await after.subscribe('gap:a', { lastEventId: 3 })).take())).toEqual([4, 5]);
      await after.close();
    });

    it('a log it cannot read keeps the stream in memory, and publishing never rejects', async () => {
      const real = createEventLog(suite.database().db);
      const failures: string[] = [];
      const bus = createInProcessEventBus({
        log: {
          ...real,
          lastId: async () => {
            throw new Error('connection lost');
          },
        },
        onError: (_error, operation) => failures.push(operation),
      });
      const published = await Promise.all([
        bus.publish('unread:a', { type: 'e', data: 1 }),
        bus.publish('unread:a', { type: 'e', data: 2 }),
      ]);
      expect(ids(published)).toEqual([1, 2]);
      expect(failures).toEqual(['load']);
      expect(await suite.rowsOf('unread:a')).toEqual([]);
      await bus.close();
    });
  });
}

const ids = (events: { id: number }[]) => events.map((event) => event.id);
