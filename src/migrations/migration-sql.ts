import { readFile, writeFile } from 'node:fs/promises';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from 'kysely';
import type { Migration } from 'kysely/migration';
import { MIGRATIONS } from './index.ts';

/**
 * The SQL every migration sends, statement by statement, as PostgreSQL would receive it. A
 * migration never changes after it ships (src/migrations/index.ts): the snapshot next to this
 * file holds what each one sent when it landed, and migration-sql.test.ts fails when one now
 * sends a single byte more or less. Each statement's text is kept as its lines, so a diff of the
 * snapshot reads like the SQL.
 */
export interface MigrationStatement {
  sql: string[];
  parameters: unknown[];
}

export interface MigrationSql {
  up: MigrationStatement[];
  down: MigrationStatement[];
}

export type MigrationSqlSnapshot = Record<string, MigrationSql>;

export const SNAPSHOT_PATH = new URL('./migration-sql.snapshot.json', import.meta.url);

/** A connection that records each compiled query and answers with no rows; nothing runs. */
class RecordingConnection implements DatabaseConnection {
  readonly queries: CompiledQuery[] = [];

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    this.queries.push(query);
    return { rows: [] };
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('a migration streamed a query: the SQL snapshot cannot record it');
  }
}

function recordingDialect(connection: RecordingConnection): Dialect {
  const driver: Driver = {
    init: async () => {},
    acquireConnection: async () => connection,
    beginTransaction: async () => {},
    commitTransaction: async () => {},
    rollbackTransaction: async () => {},
    releaseConnection: async () => {},
    destroy: async () => {},
  };
  return {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => driver,
    createQueryCompiler: () => new PostgresQueryCompiler(),
    createIntrospector: (db) => new PostgresIntrospector(db),
  };
}

async function record(step: Migration['up']): Promise<MigrationStatement[]> {
  const connection = new RecordingConnection();
  const db = new Kysely<unknown>({ dialect: recordingDialect(connection) });
  try {
    await step(db);
  } finally {
    await db.destroy();
  }
  return connection.queries.map((query) => ({
    sql: query.sql.split('\n'),
    parameters: [...query.parameters],
  }));
}

/** Every migration's `up` in order, then every `down` in reverse, as `migrateToLatest` and a full rollback run them. */
export async function captureMigrationSql(
  migrations: Record<string, Migration> = MIGRATIONS,
): Promise<MigrationSqlSnapshot> {
  const names = Object.keys(migrations);
  const up = new Map<string, MigrationStatement[]>();
  for (const name of names) up.set(name, await record(migrations[name]!.up));
  const down = new Map<string, MigrationStatement[]>();
  for (const name of [...names].reverse()) {
    const step = migrations[name]!.down;
    down.set(name, step ? await record(step) : []);
  }
  return Object.fromEntries(
    names.map((name) => [name, { up: up.get(name)!, down: down.get(name)! }]),
  );
}

export async function readMigrationSqlSnapshot(
  path: URL | string = SNAPSHOT_PATH,
): Promise<MigrationSqlSnapshot> {
  return JSON.parse(await readFile(path, 'utf8')) as MigrationSqlSnapshot;
}

/**
 * Adds the migrations the snapshot does not hold yet (a new one, in the commit that adds it) and
 * refuses to touch the ones it holds: a landed migration's SQL is never rewritten from the code.
 * Returns the names added; throws, writing nothing, when a landed migration's SQL changed.
 */
export async function addNewMigrationsToSnapshot(
  options: { path?: URL | string; migrations?: Record<string, Migration> } = {},
): Promise<string[]> {
  const path = options.path ?? SNAPSHOT_PATH;
  const current = await captureMigrationSql(options.migrations);
  let landed: MigrationSqlSnapshot = {};
  try {
    landed = await readMigrationSqlSnapshot(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const changed = Object.keys(landed).filter(
    (name) => JSON.stringify(current[name]) !== JSON.stringify(landed[name]),
  );
  if (changed.length > 0) {
    throw new Error(`landed migrations now send other SQL: ${changed.join(', ')}`);
  }
  const added = Object.keys(current).filter((name) => !(name in landed));
  await writeFile(path, `${JSON.stringify(current, null, 2)}\n`);
  return added;
}

// `node src/migrations/migration-sql.ts`: record a new migration's SQL.
if (import.meta.main) {
  const added = await addNewMigrationsToSnapshot();
  console.log(added.length > 0 ? `added: ${added.join(', ')}` : 'nothing to add');
  console.log('then: npx biome format --write src/migrations/migration-sql.snapshot.json');
}
