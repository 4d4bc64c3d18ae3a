import {
  type PGlite,
  parse as pgliteResults,
  protocol,
  type Results,
  type Transaction,
} from '@electric-sql/pglite';
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
  sql,
  type TransactionSettings,
} from 'kysely';

/**
 * Put first in a hot statement (`sql\`${PREPARED} with …\``): on PGlite it is parsed and
 * planned once per database as a named prepared statement, then only bound and executed
 * (PostgreSQL's plan cache: custom plans for five executions, then a generic one when it costs
 * no more). PGlite's Postgres is WASM: parsing and planning a large statement costs it several
 * milliseconds of CPU each time, more than running it (the chat send statement: 6.5 ms to plan,
 * 1.3 ms prepared). A comment on PostgreSQL, whose planner runs native.
 */
export const PREPARED = sql.raw('/* prepared */ ');
const PREPARED_MARK = /^\s*\/\* prepared \*\/ /;

/** Named statements prepared in a database: by SQL text, their name and parameter types. */
const preparedStatements = new WeakMap<PGlite, Map<string, { name: string; types: number[] }>>();
/** Distinct texts prepared per database at most; past it, statements are parsed each time. */
const MAX_PREPARED = 64;
let preparedCount = 0;

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
    const result = this.#prepares(compiledQuery.sql)
      ? await this.#executePrepared<R>(compiledQuery.sql, compiledQuery.parameters)
      : await target.query<R>(compiledQuery.sql, [...compiledQuery.parameters]);
    return {
      rows: result.rows,
      ...(result.affectedRows === undefined
        ? {}
        : { numAffectedRows: BigInt(result.affectedRows) }),
    };
  }

  /** A `PREPARED` statement already prepared here, or one more within the bound. */
  #prepares(text: string) {
    if (!PREPARED_MARK.test(text)) return false;
    const known = preparedStatements.get(this.#pglite);
    return !known || known.has(text) || known.size < MAX_PREPARED;
  }

  /**
   * `PREPARED` statements: what `PGlite.query` does (parse, describe, bind, describe, execute,
   * sync under its mutexes; the data dir synced outside a transaction), with the parse and the
   * statement's describe done once per database under a name.
   */
  async #executePrepared<R>(text: string, parameters: readonly unknown[]) {
    const pglite = this.#pglite;
    let statements = preparedStatements.get(pglite);
    if (!statements) {
      statements = new Map();
      preparedStatements.set(pglite, statements);
    }
    const known = statements;
    const { serialize } = protocol;
    const send = (message: Uint8Array) => pglite.execProtocolStream(message, { syncToFs: false });
    const run = () =>
      pglite.runExclusive(async () => {
        const messages: Awaited<ReturnType<PGlite['execProtocolStream']>> = [];
        let statement = known.get(text);
        try {
          if (!statement) {
            const name = `bc_prepared_${++preparedCount}`;
            await send(serialize.parse({ name, text }));
            const types = pgliteResults.parseDescribeStatementResults(
              await send(serialize.describe({ type: 'S', name })),
            );
            statement = { name, types };
            known.set(text, statement);
          }
          const { name, types } = statement;
          const values = parameters.map((value, i) => {
            if (value === null || value === undefined) return null;
            const serializer = pglite.serializers[types[i] as number];
            return serializer ? serializer(value) : String(value);
          });
          messages.push(
            ...(await send(serialize.bind({ statement: name, values }))),
            ...(await send(serialize.describe({ type: 'P' }))),
            ...(await send(serialize.execute({}))),
          );
        } catch (error) {
          // A plan whose result columns a migration changed: prepared again next time.
          if (
            error instanceof protocol.messages.DatabaseError &&
            error.code === '0A000' &&
            statement
          ) {
            known.delete(text);
            await send(serialize.close({ type: 'S', name: statement.name }));
          }
          throw error;
        } finally {
          messages.push(...(await send(serialize.sync())));
        }
        if (!this.transaction) await pglite.syncToFs();
        return pgliteResults.parseResults(messages, pglite.parsers)[0] as Results<R>;
      });
    // Outside a Kysely transaction, wait for any PGlite transaction to end, as `query` does.
    return this.transaction ? run() : pglite._runExclusiveTransaction(run);
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
