import { type Kysely, sql } from 'kysely';
import { isAppError } from '../src/platform/app-error.ts';
import { eventually } from './eventually.ts';

/**
 * Reads again after a 503: the test's own work shares a small pool with the code under test,
 * which may take a connection first and keep it past the acquire timeout — as a client would.
 */
export async function patiently<T>(read: () => Promise<T>): Promise<T> {
  while (true) {
    try {
      return await read();
    } catch (error) {
      if (!isAppError(error) || error.code !== 'SERVICE_UNAVAILABLE') throw error;
    }
  }
}

/**
 * Runs a real PostgreSQL pool dry (issue #20): takes all `size` of its connections and keeps
 * them until `until()` holds — the code under test has met the dry pool (its wait is logged)
 * or, as before a fix, failed. `whenHeld` runs once every connection is held.
 */
export async function holdThePool<DB>(
  db: Kysely<DB>,
  size: number,
  until: () => boolean,
  whenHeld: () => void = () => {},
): Promise<void> {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  let held = 0;
  const hold = () =>
    patiently(() =>
      db.connection().execute(async (connection) => {
        await sql`select 1`.execute(connection);
        held++;
        await released;
      }),
    );
  const holding = Array.from({ length: size }, hold);
  try {
    await eventually(() => held === size);
    whenHeld();
    await eventually(until, Boolean, { what: 'the dry pool met' });
  } finally {
    release();
    await Promise.all(holding);
  }
}
