/**
 * Several Brain Cells servers on one PostgreSQL and one Redis, as real processes on loopback
 * ports (issue #20 item 7): what `npm run cluster` starts for trying, and what the cluster tests
 * (test/cluster/) start for testing. Each server has a data dir of its own under `root/servers/`
 * (a data dir is one process's); `root/shared/` is the folder every server can reach.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../src/platform/db/database.ts';
import { migrateToLatest } from '../src/platform/db/migrator.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'bin', 'braincells.js');

export type ClusterRole = 'all' | 'api' | 'worker';

export interface ClusterOptions {
  /** A migrated PostgreSQL database every server uses (createClusterDatabase makes one). */
  databaseUrl: string;
  redisUrl: string;
  /** BRAINCELLS_SECRET of every server: each must decrypt the provider keys the others stored. */
  secret: string;
  /** Folder for the servers' data dirs and the shared folder. */
  root: string;
  /** One entry per server (default three `all` servers). */
  roles?: readonly ClusterRole[];
  /** Port of the first server, the next ones follow; 0 (default): free ports. */
  basePort?: number;
  /** More settings for every server (`BRAINCELLS_RUN_LEASE_MS`, rate limits, …). */
  env?: Record<string, string>;
  /** Every chunk a server writes on stdout or stderr (tests scan it, the CLI logs it). */
  onOutput?: (server: ClusterServer, text: string) => void;
  /** A server exited without being asked to (crashed, or refused to start). */
  onExit?: (server: ClusterServer, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface ClusterServer {
  /** 0-based; the name is `s1`, `s2`, … */
  readonly index: number;
  readonly name: string;
  readonly role: ClusterRole;
  readonly dataDir: string;
  /** Set while the server runs and has said it is ready. */
  url: string | undefined;
  /** The running process (undefined once stopped or killed). */
  process: ChildProcess | undefined;
}

export interface Cluster {
  readonly servers: readonly ClusterServer[];
  readonly sharedDir: string;
  /** Starts (or starts again) one server; resolves with its URL once it is ready. */
  start(index: number): Promise<string>;
  /** SIGTERM, then waits for the exit (the server drains and hands its runs back). */
  stop(index: number): Promise<void>;
  /** SIGKILL, then waits for the exit: a crash. */
  kill(index: number): Promise<void>;
  /** Stops every running server (SIGTERM). */
  close(): Promise<void>;
}

/** The environment a server gets: ours without any setting that would change its backend. */
function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(BRAINCELLS_|DATABASE_URL$|REDIS_URL$|PORT$|HOST$)/.test(name)) continue;
    env[name] = value;
  }
  return { ...env, LOG_FORMAT: 'json', ...extra };
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

/** Starts every server of the cluster at once; resolves when all are ready. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const roles = options.roles ?? ['all', 'all', 'all'];
  const sharedDir = path.join(options.root, 'shared');
  mkdirSync(sharedDir, { recursive: true });
  const servers: ClusterServer[] = roles.map((role, index) => {
    const dataDir = path.join(options.root, 'servers', `s${index + 1}`);
    mkdirSync(dataDir, { recursive: true });
    return { index, name: `s${index + 1}`, role, dataDir, url: undefined, process: undefined };
  });
  /** Servers the cluster itself is stopping: their exit is not reported as a crash. */
  const stopping = new Set<ChildProcess>();

  const start = (index: number): Promise<string> => {
    const server = servers[index];
    if (!server) throw new Error(`no server ${index} in a cluster of ${servers.length}`);
    if (server.process) throw new Error(`${server.name} is running`);
    const port = options.basePort ? options.basePort + index : 0;
    const child = spawn(process.execPath, [CLI, 'serve'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: serverEnv({
        DATABASE_URL: options.databaseUrl,
        REDIS_URL: options.redisUrl,
        BRAINCELLS_SECRET: options.secret,
        BRAINCELLS_DATA_DIR: server.dataDir,
        // Datasets live in the shared folder (one file each, held by one server at a time), and
        // a request for a dataset another server holds is forwarded to that server's address:
        // known before the start only on fixed ports.
        BRAINCELLS_STORAGE_DIR: sharedDir,
        ...(port ? { BRAINCELLS_INTERNAL_URL: `http://127.0.0.1:${port}` } : {}),
        BRAINCELLS_ROLE: server.role,
        // Migrated once, before the servers start: no two servers migrate at once.
        BRAINCELLS_MIGRATE_ON_START: 'false',
        HOST: '127.0.0.1',
        PORT: String(port),
        ...options.env,
      }),
    });
    server.process = child;
    server.url = undefined;
    return new Promise((resolve, reject) => {
      // The start-up log, kept until the ready line (it names the URL) or an early exit.
      let early = '';
      const onText = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        options.onOutput?.(server, text);
        if (server.url) return;
        early = (early + text).slice(-65_536);
        const ready = /"url":"(http:\/\/[^"]+)"/.exec(early);
        if (ready) {
          server.url = ready[1]!;
          resolve(server.url);
        }
      };
      child.stdout!.on('data', onText);
      child.stderr!.on('data', onText);
      child.once('exit', (code, signal) => {
        if (server.process === child) {
          server.process = undefined;
          server.url = undefined;
        }
        if (!stopping.delete(child)) options.onExit?.(server, code, signal);
        reject(
          new Error(`${server.name} exited (${signal ?? code}) before it was ready:\n${early}`),
        );
      });
    });
  };

  const end = async (index: number, signal: 'SIGTERM' | 'SIGKILL') => {
    const child = servers[index]?.process;
    if (!child) return;
    stopping.add(child);
    child.kill(signal);
    await exited(child);
  };

  const cluster: Cluster = {
    servers,
    sharedDir,
    start,
    stop: (index) => end(index, 'SIGTERM'),
    kill: (index) => end(index, 'SIGKILL'),
    async close() {
      await Promise.all(servers.map((server) => end(server.index, 'SIGTERM')));
    },
  };
  try {
    await Promise.all(servers.map((server) => start(server.index)));
  } catch (error) {
    await Promise.all(servers.map((server) => end(server.index, 'SIGKILL')));
    throw error;
  }
  return cluster;
}

/**
 * The first of `count` consecutive loopback ports free now (for servers that must know their
 * own URL before they start: BRAINCELLS_INTERNAL_URL, which dataset forwarding needs).
 */
export async function freePortRange(count: number): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let all = true;
    for (let port = base; port < base + count && all; port++) all = await free(port);
    if (all) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/** A random name for a cluster's own database. */
export function clusterDatabaseName(): string {
  return `braincells_cluster_${randomBytes(6).toString('hex')}`;
}

/** Applies every pending migration to the database of `url`. */
export async function migrateDatabase(url: string): Promise<void> {
  const database = await openDatabase({ kind: 'postgres', connectionString: url, poolSize: 1 });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
}

/**
 * Creates a database of its own on the PostgreSQL server of `serverUrl` and migrates it;
 * `drop()` removes it again (closing whatever still uses it).
 */
export async function createClusterDatabase(
  serverUrl: string,
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = clusterDatabaseName();
  const admin = new URL(serverUrl);
  admin.pathname = '/postgres';
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const run = async (statement: string) => {
    const database = await openDatabase({
      kind: 'postgres',
      connectionString: admin.toString(),
      poolSize: 1,
    });
    try {
      await sql.raw(statement).execute(database.db);
    } finally {
      await database.close();
    }
  };
  await run(`create database ${name}`);
  await migrateDatabase(url.toString());
  return {
    url: url.toString(),
    name,
    drop: () => run(`drop database if exists ${name} with (force)`),
  };
}
