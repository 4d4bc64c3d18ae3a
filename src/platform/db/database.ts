import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { DB } from '../../migrations/db-schema.ts';
import { AppError } from '../app-error.ts';
import { PGliteDialect } from './pglite-driver.ts';

export type DatabaseKind = 'pglite' | 'postgres';

/** Where a store's query runs: the pool, or the transaction its caller opened. */
export type Executor = Kysely<DB> | Transaction<DB>;

/** The metadata database: Kysely over embedded PGlite, or over PostgreSQL when DATABASE_URL is set. */
export interface Database {
  kind: DatabaseKind;
  db: Kysely<DB>;
  /** Present on the embedded backend; pg-boss shares it. */
  pglite: PGlite | undefined;
  /** Present on PostgreSQL; used to tell pg-boss where to connect. */
  connectionString: string | undefined;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type DatabaseOptions =
  | { kind: 'pglite'; dataDir: string }
  | {
      kind: 'postgres';
      connectionString: string;
      poolSize?: number;
      /** Longest wait for a free connection (or a new one to open); default 5 s. */
      acquireTimeoutMs?: number;
    };

// int8 comes back as a JS number on both backends (counts, nano-USD sums). Past 2^53 we
// would rather fail loudly than round silently.
function parseInt8(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new RangeError(`int8 value ${value} exceeds 2^53`);
  return parsed;
}
const INT8_OID = 20;
const DATE_OID = 1082;
const identity = (value: string) => value;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.kind === 'pglite') return openPGlite(options.dataDir);
  return openPostgres(options.connectionString, options.poolSize ?? 10, options.acquireTimeoutMs);
}

/**
 * Settings PGlite starts with beyond its own (`PGlite.defaultStartParams`: single user, fsync
 * off, no parallel workers).
 *   - `wal_init_zero=off`: a new WAL segment is created by writing its last byte, not by
 *     writing 16 MB of zeros. PGlite's Postgres runs on the server's main thread and writes
 *     through synchronous file calls, so the zero-fill stopped every request for 50–100 ms each
 *     time 16 MB of WAL had been written (the largest event-loop delay of the documents
 *     bench's extract step; docs/deploy.md "PGlite's settings"). The zeros buy nothing here:
 *     with fsync off they were never a guarantee of allocated space, and PostgreSQL offers the
 *     setting for file systems where they buy nothing either.
 */
export const PGLITE_SETTINGS = ['-c', 'wal_init_zero=off'] as const;

async function openPGlite(dataDir: string): Promise<Database> {
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const pglite = await PGlite.create({
    dataDir,
    parsers: { [INT8_OID]: parseInt8, [DATE_OID]: identity },
    startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS],
  });
  const db = new Kysely<DB>({ dialect: new PGliteDialect(pglite) });
  return {
    kind: 'pglite',
    db,
    pglite,
    connectionString: undefined,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: async () => {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    },
  };
}

/**
 * The pool as Kysely sees it: taking a connection that does not come within the acquire
 * timeout (every one is busy, or PostgreSQL does not answer) fails with SERVICE_UNAVAILABLE —
 * a 503 the client may retry — instead of queueing the request without end. pg-pool applies
 * `connectionTimeoutMillis` to waiting for a busy pool as well as to opening a connection.
 */
function failFastPool(pool: pg.Pool, acquireTimeoutMs: number) {
  return {
    async connect() {
      try {
        return await pool.connect();
      } catch (error) {
        const timedOut = error instanceof Error && /timeout exceeded/.test(error.message);
        throw new AppError(
          'SERVICE_UNAVAILABLE',
          timedOut
            ? `The database has no free connection (waited ${acquireTimeoutMs} ms); retry shortly`
            : 'The database cannot be reached; retry shortly',
          { cause: error },
        );
      }
    },
    end: () => pool.end(),
    options: pool.options,
  };
}

async function openPostgres(
  connectionString: string,
  poolSize: number,
  acquireTimeoutMs = 5_000,
): Promise<Database> {
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    connectionTimeoutMillis: acquireTimeoutMs,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (oid === INT8_OID) return parseInt8;
        if (oid === DATE_OID) return identity;
        return pg.types.getTypeParser(oid, format);
      }) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client that errors (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({ pool: failFastPool(pool, acquireTimeoutMs) }),
  });
  const database: Database = {
    kind: 'postgres',
    db,
    pglite: undefined,
    connectionString,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: async () => {
      await db.destroy();
    },
  };
  try {
    // Straight on the pool: a failure to open says why (refused, TLS, password), not "busy".
    await pool.query('select 1');
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }
  return database;
}
