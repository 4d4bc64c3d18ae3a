/**
 * `npm run cluster` / `make cluster`: N Brain Cells servers on loopback ports, one PostgreSQL
 * database and one Redis, until Ctrl-C (docs/deploy.md#a-cluster-on-one-machine).
 *
 *   node scripts/cluster.ts [--servers 3] [--roles all,api,worker] [--port 3000] [--dir D]
 *                           [--fake-llm] [--keep]
 *
 * DATABASE_URL: the database to use (migrated first). Unset: a fresh database is created on
 * postgres://postgres@127.0.0.1:5432 and dropped on exit (--keep keeps it).
 * REDIS_URL: default redis://127.0.0.1:6379. BRAINCELLS_SECRET: default the one in <dir>/secret,
 * else a random one written there (mode 0600). Every other BRAINCELLS_* setting is passed on to
 * every server.
 */
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startFakeLlm } from '../tools/fake-llm/fake-llm-server.ts';
import {
  type Cluster,
  type ClusterRole,
  createClusterDatabase,
  freePortRange,
  migrateDatabase,
  startCluster,
} from './cluster-servers.ts';

const DEFAULT_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';
const ROLES: readonly string[] = ['all', 'api', 'worker'];

function fail(message: string): never {
  process.stderr.write(`cluster: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: '3' },
    roles: { type: 'string' },
    port: { type: 'string', default: '3000' },
    dir: { type: 'string' },
    'fake-llm': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const count = Number(values.servers);
if (!Number.isInteger(count) || count < 1 || count > 20) fail('--servers must be 1 to 20');
const roles = (values.roles ?? 'all').split(',').map((role) => role.trim());
for (const role of roles)
  if (!ROLES.includes(role)) fail(`--roles: ${role} is not all, api or worker`);
// Fewer roles than servers: the last one repeats (`--roles api,all` = api, all, all).
const serverRoles = Array.from(
  { length: count },
  (_, index) => (roles[index] ?? roles.at(-1)) as ClusterRole,
);
if (!serverRoles.some((role) => role !== 'api'))
  fail('--roles: at least one server must run jobs (all or worker)');
const basePort = Number(values.port);
if (!Number.isInteger(basePort) || basePort < 0 || basePort + count > 65_535)
  fail('--port must be a port number (0: free ports)');
// Each server must know its own address before it starts (a request for a dataset another
// server holds is forwarded there): with --port 0 the ports are chosen now, consecutive and free.
const firstPort = basePort === 0 ? await freePortRange(count) : basePort;

// Settings for every server: the BRAINCELLS_* of this shell (a typo is refused by the servers).
const passed: Record<string, string> = {};
for (const [name, value] of Object.entries(process.env))
  if (name.startsWith('BRAINCELLS_') && value !== undefined && name !== 'BRAINCELLS_SECRET')
    passed[name] = value;
for (const name of ['BRAINCELLS_DATA_DIR', 'BRAINCELLS_ROLE', 'BRAINCELLS_MIGRATE_ON_START'])
  if (name in passed) fail(`${name} is set by the cluster per server; unset it`);

const ownDir = values.dir === undefined;
const root = values.dir ?? mkdtempSync(path.join(os.tmpdir(), 'braincells-cluster-'));
mkdirSync(root, { recursive: true });
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// The provider keys stored by one run are sealed with it: a kept folder keeps its secret.
const secretFile = path.join(root, 'secret');
let secret = process.env.BRAINCELLS_SECRET;
if (!secret && existsSync(secretFile)) secret = readFileSync(secretFile, 'utf8').trim();
if (!secret) {
  secret = randomBytes(32).toString('base64url');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
}

// A database of the cluster's own unless DATABASE_URL names one (migrated, never dropped).
let fresh: Awaited<ReturnType<typeof createClusterDatabase>> | undefined;
let databaseUrl = process.env.DATABASE_URL;
try {
  if (databaseUrl) await migrateDatabase(databaseUrl);
  else {
    fresh = await createClusterDatabase(DEFAULT_SERVER);
    databaseUrl = fresh.url;
  }
} catch (error) {
  fail(`cannot prepare the database: ${(error as Error).message.split('\n')[0]}`);
}

const fake = values['fake-llm'] ? await startFakeLlm({ record: false }) : undefined;
const logs = new Map<string, WriteStream>();
const logOf = (name: string) => path.join(root, 'servers', name, 'server.log');
let cluster: Cluster | undefined;
let closing = false;

async function shutdown(code: number): Promise<never> {
  closing = true;
  await cluster?.close();
  for (const log of logs.values()) log.end();
  await fake?.close();
  if (!values.keep) {
    await fresh?.drop();
    if (ownDir) rmSync(root, { recursive: true, force: true });
  }
  process.stdout.write(
    values.keep || (!fresh && !ownDir)
      ? `stopped; kept ${[fresh && `database ${fresh.name}`, ownDir && root].filter(Boolean).join(' and ') || 'everything'}\n`
      : 'stopped; the database and folder it made are removed (--keep keeps them)\n',
  );
  process.exit(code);
}

try {
  cluster = await startCluster({
    databaseUrl: databaseUrl!,
    redisUrl,
    secret,
    root,
    roles: serverRoles,
    basePort: firstPort,
    env: passed,
    onOutput(server, text) {
      let log = logs.get(server.name);
      if (!log) {
        log = createWriteStream(logOf(server.name), { flags: 'a' });
        logs.set(server.name, log);
      }
      log.write(text);
    },
    onExit(server, code, signal) {
      if (closing) return;
      process.stderr.write(
        `${server.name} exited (${signal ?? `code ${code}`}); see ${logOf(server.name)}\n`,
      );
    },
  });
} catch (error) {
  process.stderr.write(`cluster: ${(error as Error).message}\n`);
  await shutdown(1);
}

const where = fresh ? `database ${fresh.name}` : 'DATABASE_URL';
process.stdout.write(
  [
    `Brain Cells cluster: ${count} servers on PostgreSQL (${where}) and Redis (${redisUrl})`,
    ...cluster!.servers.map(
      (server) =>
        `  ${server.name}  ${server.role.padEnd(6)}  ${server.role === 'worker' ? '(health only) ' : ''}${server.url}   log ${logOf(server.name)}`,
    ),
    `Shared folder: ${cluster!.sharedDir}`,
    ...(fake ? [`Fake LLM (a provider of kind openai, any key): ${fake.url}/v1`] : []),
    'Create the first account at any api/all URL; Ctrl-C stops them all.',
    '',
  ].join('\n'),
);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    if (!closing) void shutdown(0);
  });
