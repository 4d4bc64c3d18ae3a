import type { PGlite, Transaction } from '@electric-sql/pglite';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';

/**
 * Kysely over PGlite. PGlite is one Postgres backend with one session, guarded by its own
 * transaction mutex: a plain query takes it for one statement, and `pglite.transaction()`
 * holds it until COMMIT. A Kysely transaction therefore runs inside `pglite.transaction()`,
 * so nothing else — pg-boss included, which shares this PGlite — can slip a statement into it.
 */
export class PGliteDialect implements Dialect {
  readonly #pglite: PGlite;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.#pglite);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
}

interface OpenTransaction {
  tx: Transaction;
  finish: (outcome: 'commit' | 'rollback') => void;
  done: Promise<void>;
}

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGlite;
  transaction: OpenTransaction | undefined;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const target = this.transaction?.tx ?? this.#pglite;
    const result = await target.query<R>(compiledQuery.sql, [...compiledQuery.parameters]);
    return {
      rows: result.rows,
      ...(result.affectedRows === undefined
        ? {}
        : { numAffectedRows: BigInt(result.affectedRows) }),
    };
  }

  // biome-ignore lint/correctness/useYield: PGlite has no server-side cursors over this API
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streamQuery is not supported on PGlite');
  }
}

class PGliteDriver implements Driver {
  readonly #pglite: PGlite;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  async init() {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new PGliteConnection(this.#pglite);
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    const conn = connection as PGliteConnection;
    const {
      promise: started,
      resolve: onStarted,
      reject: onStartFailed,
    } = Promise.withResolvers<Transaction>();
    const { promise: outcome, resolve: finish } = Promise.withResolvers<'commit' | 'rollback'>();
    const done = this.#pglite
      .transaction(async (tx) => {
        onStarted(tx);
        if ((await outcome) === 'rollback') await tx.rollback();
      })
      .catch((error: unknown) => {
        onStartFailed(error);
        throw error;
      });
    const tx = await started;
    conn.transaction = { tx, finish, done: done.then(() => undefined) };
    if (settings.isolationLevel || settings.accessMode) {
      const parts = [
        settings.isolationLevel ? `isolation level ${settings.isolationLevel}` : '',
        settings.accessMode ?? '',
      ].filter(Boolean);
      await tx.exec(`set transaction ${parts.join(' ')}`);
    }
  }

  async commitTransaction(connection: DatabaseConnection) {
    await this.#end(connection as PGliteConnection, 'commit');
  }

  async rollbackTransaction(connection: DatabaseConnection) {
    await this.#end(connection as PGliteConnection, 'rollback');
  }

  async #end(connection: PGliteConnection, outcome: 'commit' | 'rollback') {
    const open = connection.transaction;
    if (!open) return;
    connection.transaction = undefined;
    open.finish(outcome);
    await open.done;
  }

  async releaseConnection() {}

  async destroy() {}
}
