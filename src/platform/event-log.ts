import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { DB } from '../migrations/db-schema.ts';
import { isUniqueViolation } from './db/db-errors.ts';
import { EventIdTaken, type StreamEvent } from './events.ts';

/**
 * Where the in-process event bus keeps its events durably (migration 0620): the last events
 * of each stream with the ids clients saw, so ids survive a restart and a client resuming with
 * Last-Event-ID is answered from here when the in-memory ring no longer holds what it missed.
 * docs/decisions/2026-12-06-durable-event-ids.md says why a table and how it stays small.
 */
export interface EventLog {
  /** The highest id stored on `stream` (0 when none). */
  lastId(stream: string): Promise<number>;
  /**
   * Stores events (many streams, one statement, all or none): the bus's group commit. Throws
   * `EventIdTaken` when another process stored one of these ids first.
   */
  append(entries: readonly { stream: string; event: StreamEvent }[]): Promise<void>;
  /**
   * `append` in a statement of the caller's: `run` gets the insert of these entries (a
   * data-modifying CTE) and runs its statement with it. Throws `EventIdTaken` as `append` does.
   */
  appendWith(
    entries: readonly { stream: string; event: StreamEvent }[],
    run: (insert: RawBuilder<unknown>) => Promise<void>,
  ): Promise<void>;
  /** Events of `stream` with an id above `afterId`, oldest first, at most `limit`. */
  read(stream: string, afterId: number, limit: number): Promise<StreamEvent[]>;
  /** Deletes the events of `stream` up to `throughId`. */
  prune(stream: string, throughId: number): Promise<void>;
  /**
   * Deletes events older than `before` (streams nobody publishes on any more), except each
   * stream's newest: it keeps the stream's last id, so ids never start over after a restart.
   */
  pruneOlderThan(before: Date): Promise<number>;
}

/** Rows per INSERT: keeps a burst's statement within the parameter limit (5 per row). */
const APPEND_CHUNK = 1_000;

export function createEventLog(db: Kysely<DB>): EventLog {
  return {
    async lastId(stream) {
      const row = await db
        .selectFrom('event_log')
        .select(sql<number | null>`max(id)`.as('last'))
        .where('stream', '=', stream)
        .executeTakeFirst();
      return Number(row?.last ?? 0);
    },

    async append(entries) {
      const insert = async (executor: Kysely<DB>) => {
        for (let index = 0; index < entries.length; index += APPEND_CHUNK) {
          await executor
            .insertInto('event_log')
            .values(
              entries.slice(index, index + APPEND_CHUNK).map(({ stream, event }) => ({
                stream,
                id: event.id,
                type: event.type,
                data: JSON.stringify(event.data ?? null),
                coalesce_key: event.coalesceKey ?? null,
              })),
            )
            .execute();
        }
      };
      try {
        if (entries.length <= APPEND_CHUNK) await insert(db);
        else await db.transaction().execute(insert);
      } catch (error) {
        if (isUniqueViolation(error)) throw new EventIdTaken({ cause: error });
        throw error;
      }
    },

    async appendWith(entries, run) {
      if (entries.length > APPEND_CHUNK) {
        // A burst too big for one statement: the caller's write first, then the events.
        await run(sql`select 1 where false`);
        await this.append(entries);
        return;
      }
      const values = entries.map(
        ({ stream, event }) =>
          sql`(${stream}, ${event.id}, ${event.type}, ${JSON.stringify(event.data ?? null)}, ${event.coalesceKey ?? null})`,
      );
      try {
        await run(
          sql`insert into event_log (stream, id, type, data, coalesce_key) values ${sql.join(values)}`,
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw new EventIdTaken({ cause: error });
        throw error;
      }
    },

    async read(stream, afterId, limit) {
      const rows = await db
        .selectFrom('event_log')
        .select(['id', 'type', 'data', 'coalesce_key'])
        .where('stream', '=', stream)
        .where('id', '>', afterId)
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        id: Number(row.id),
        type: row.type,
        data: JSON.parse(row.data) as unknown,
        ...(row.coalesce_key === null ? {} : { coalesceKey: row.coalesce_key }),
      }));
    },

    async prune(stream, throughId) {
      await db
        .deleteFrom('event_log')
        .where('stream', '=', stream)
        .where('id', '<=', throughId)
        .execute();
    },

    async pruneOlderThan(before) {
      const result = await db
        .deleteFrom('event_log as old')
        .where('old.created_at', '<', before)
        .where(({ exists, selectFrom }) =>
          exists(
            selectFrom('event_log as newer')
              .select('newer.id')
              .whereRef('newer.stream', '=', 'old.stream')
              .whereRef('newer.id', '>', 'old.id'),
          ),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
