/**
 * The sandbox process (see duckdb-sandbox.ts): runs user-written SQL on a DuckDB instance of
 * its own that can reach only the files its parent names. It knows nothing of the data dir,
 * the main DuckDB file or the server's environment (it is started with an empty one), and
 * its parent kills it when a query outlives its deadline or its memory cap.
 *
 * Protocol (process IPC, one request at a time, each answered with its id):
 *   open  { views: [{ name, path }], writable: [path], memoryLimit, threads }
 *   query { sql, maxRows, maxBytes } → { columns, rows, truncated }
 *   run   { sql } → { changed }
 *   close
 *   interrupt (no answer: the running statement fails with "Interrupted")
 */
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

interface Request {
  id: number;
  type: 'open' | 'query' | 'run' | 'close';
  views?: { name: string; path: string }[];
  writable?: string[];
  memoryLimit?: string;
  threads?: number;
  sql?: string;
  maxRows?: number;
  maxBytes?: number;
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
const identifier = (text: string) => `"${text.replaceAll('"', '""')}"`;

let instance: DuckDBInstance | undefined;
let connection: DuckDBConnection | undefined;

async function open(request: Request) {
  close();
  instance = await DuckDBInstance.create(':memory:', {
    threads: String(request.threads ?? 1),
    memory_limit: request.memoryLimit ?? '512MB',
    // No spilling: nothing of a query reaches the disk, so temp space is zero by construction.
    temp_directory: '',
    max_temp_directory_size: '0B',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_community_extensions: 'false',
    allow_unsigned_extensions: 'false',
  });
  connection = await instance.connect();
  const paths = [...(request.views ?? []).map((view) => view.path), ...(request.writable ?? [])];
  // The files this session may touch, then no other file, then no setting change at all
  // (`lock_configuration` also keeps `enable_external_access` from being turned back on).
  await connection.run(`set allowed_paths = [${paths.map(literal).join(', ')}]`);
  await connection.run('set enable_external_access = false');
  await connection.run('set lock_configuration = true');
  for (const view of request.views ?? [])
    await connection.run(
      `create view ${identifier(view.name)} as select * from read_parquet(${literal(view.path)})`,
    );
}

function close() {
  connection?.closeSync();
  instance?.closeSync();
  connection = undefined;
  instance = undefined;
}

/** Exactly one statement, prepared on its own: a second statement never runs. */
async function prepareOne(sql: string) {
  if (!connection) throw new Error('sandbox session is not open');
  const extracted = await connection.extractStatements(sql);
  if (extracted.count !== 1) throw new Error('Exactly one statement is allowed');
  return extracted.prepare(0);
}

async function query(request: Request) {
  const prepared = await prepareOne(request.sql ?? '');
  const reader = await prepared.runAndReadAll();
  const names = reader.columnNames();
  const types = reader.columnTypes().map((type) => type.toString());
  const maxRows = request.maxRows ?? 10_000;
  const maxBytes = request.maxBytes ?? 16 * 1024 * 1024;
  const rows: unknown[] = [];
  let bytes = 0;
  let truncated = reader.currentRowCount > maxRows;
  for (const row of reader.getRowObjectsJson()) {
    if (rows.length >= maxRows) break;
    bytes += JSON.stringify(row).length;
    if (bytes > maxBytes) {
      truncated = true;
      break;
    }
    rows.push(row);
  }
  return {
    columns: names.map((name, index) => ({ name, type: types[index] ?? 'UNKNOWN' })),
    rows,
    truncated,
  };
}

async function run(request: Request) {
  const prepared = await prepareOne(request.sql ?? '');
  const result = await prepared.run();
  return { changed: Number(result.rowsChanged) };
}

async function handle(request: Request) {
  switch (request.type) {
    case 'open':
      await open(request);
      return {};
    case 'query':
      return query(request);
    case 'run':
      return run(request);
    case 'close':
      close();
      return {};
  }
}

let queue = Promise.resolve();
process.on('message', (message: Request | { type: 'interrupt' }) => {
  if (message.type === 'interrupt') {
    connection?.interrupt();
    return;
  }
  const request = message as Request;
  queue = queue.then(async () => {
    try {
      const value = await handle(request);
      process.send?.({ id: request.id, ok: true, value });
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      process.send?.({ id: request.id, ok: false, error: text.slice(0, 4_000) });
    }
  });
});
// The parent is gone (or closed the channel): nothing is left to answer.
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
