import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { DB } from '../migrations/db-schema.ts';

/**
 * Tells the other servers on one PostgreSQL that a stream has new events in the event log
 * (issue #20 item 2; docs/decisions/2026-12-06-events-across-servers.md). The log
 * (`event-log.ts`) stays the one place events and ids live; a notice only says "stream S has
 * events through id N", and each server reads what it has not delivered from the log, so a
 * notice lost or late costs latency, never an event. A server that (re)connects its listener
 * hears `onGap` and reads every stream it serves again.
 */
export interface EventNotice {
  stream: string;
  lastId: number;
  /** The server that stored the events (a server ignores its own notices). */
  origin: string;
}

export interface EventNotifier {
  /** This server's id in notices. */
  readonly origin: string;
  /** Tells the others that these streams have events through these ids. */
  notify(notices: readonly { stream: string; lastId: number }[]): Promise<void>;
  /**
   * Listens to the other servers' notices until `close`. `onGap` runs after every
   * (re)connection: notices sent while not listening are lost, the log is not.
   */
  listen(handlers: { onNotice(notice: EventNotice): void; onGap(): void }): void;
  close(): Promise<void>;
}

/** One channel for every stream: the payload names the stream. */
export const EVENT_CHANNEL = 'braincells_events';
/** PostgreSQL refuses payloads of 8,000 bytes or more; stream names are far shorter. */
const MAX_PAYLOAD = 7_900;
/** The listener's wait before connecting again after losing its connection. */
const RECONNECT_MS = 1_000;

export interface PostgresEventNotifierOptions {
  connectionString: string;
  /** Where notices are sent from (the pool the event log writes through). */
  db: Kysely<DB>;
  origin?: string;
  /** The listener's connection failed (it connects again) or a notice could not be sent. */
  onError?: (error: unknown, operation: 'listen' | 'notify') => void;
}

export function createPostgresEventNotifier(options: PostgresEventNotifierOptions): EventNotifier {
  const origin = options.origin ?? randomUUID();
  const report = options.onError ?? (() => {});
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const connect = async (handlers: Parameters<EventNotifier['listen']>[0]) => {
    if (closed) return;
    const next = new pg.Client({
      connectionString: options.connectionString,
      application_name: `braincells-events:${origin}`,
      connectionTimeoutMillis: 5_000,
    });
    const retry = (error: unknown) => {
      report(error, 'listen');
      if (client === next) client = undefined;
      next.removeAllListeners('notification');
      void next.end().catch(() => {});
      if (closed || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        void connect(handlers);
      }, RECONNECT_MS);
      timer.unref();
    };
    next.on('error', retry);
    next.on('end', () => {
      if (!closed && client === next) retry(new Error('event listener connection ended'));
    });
    next.on('notification', (message) => {
      if (message.channel !== EVENT_CHANNEL || !message.payload) return;
      const notice = parseNotice(message.payload);
      if (notice && notice.origin !== origin) handlers.onNotice(notice);
    });
    try {
      await next.connect();
      await next.query(`listen ${EVENT_CHANNEL}`);
    } catch (error) {
      retry(error);
      return;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
    handlers.onGap();
  };

  return {
    origin,

    async notify(notices) {
      const payloads = notices
        .map(({ stream, lastId }) => JSON.stringify({ s: stream, i: lastId, o: origin }))
        .filter((payload) => Buffer.byteLength(payload) < MAX_PAYLOAD);
      if (payloads.length === 0) return;
      try {
        await sql`select pg_notify(${EVENT_CHANNEL}, payload)
          from unnest(${payloads}::text[]) as payload`.execute(options.db);
      } catch (error) {
        report(error, 'notify');
      }
    },

    listen(handlers) {
      void connect(handlers);
    },

    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      const current = client;
      client = undefined;
      await current?.end().catch(() => {});
    },
  };
}

function parseNotice(payload: string): EventNotice | undefined {
  try {
    const value = JSON.parse(payload) as { s?: unknown; i?: unknown; o?: unknown };
    if (typeof value.s !== 'string' || typeof value.o !== 'string') return undefined;
    if (typeof value.i !== 'number' || !Number.isSafeInteger(value.i) || value.i < 1)
      return undefined;
    return { stream: value.s, lastId: value.i, origin: value.o };
  } catch {
    return undefined;
  }
}
