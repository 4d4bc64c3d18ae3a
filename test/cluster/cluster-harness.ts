import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import {
  type Cluster,
  type ClusterRole,
  freePortRange,
  startCluster,
} from '../../scripts/cluster-servers.ts';
import { type Database, openDatabase } from '../../src/platform/db/database.ts';
import { type FakeLlm, startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import { type SeededDataDir, seedDataDir } from '../crash-server.ts';
import { appendRunLog, registerTestSecret } from '../leak-scan.ts';
import { createTestStorage } from '../test-platform.ts';
import { TEST_REDIS_URL } from '../test-redis.ts';

export const CLUSTER_FAKE_KEY = 'sk-cluster-fake-provider-key-0123456789';

export interface TestCluster<T> {
  cluster: Cluster;
  fake: FakeLlm;
  /** The cluster's database, for reading what the servers wrote (leases, runs). */
  db: Database['db'];
  /** The seeded project, API key and provider, plus what `more` made. */
  seeded: Omit<SeededDataDir, 'app' | 'actor'> & T;
  /** `Authorization` and JSON content type for the seeded API key. */
  headers: Record<string, string>;
  /** The URL of server `index` (it must be running). */
  url(index: number): string;
  /** The index of the server whose process has this pid (a durable run's lease owner). */
  serverOfPid(pid: number): number;
}

/**
 * Real `braincells serve` processes (scripts/cluster-servers.ts) on a PostgreSQL database of the
 * file's own (cloned from the golden one), this machine's Redis and one fake LLM server, opened
 * once for the tests of a file: a user owning a project with an API key and the fake provider,
 * and whatever `more` adds, are seeded first.
 */
export function clusterPerFile<T extends object>(options: {
  roles: readonly ClusterRole[];
  env?: Record<string, string>;
  /**
   * Fixed ports (found free), so each server knows its BRAINCELLS_INTERNAL_URL and requests for
   * a dataset another server holds are forwarded there; default: any free port, no forwarding.
   */
  fixedPorts?: boolean;
  /** Adds what the tests need; `fakeUrl` is the fake provider's server (`${fakeUrl}/v1`). */
  more?: (seeded: SeededDataDir & { fakeUrl: string }) => Promise<T>;
}): TestCluster<T> {
  let cleanup: (() => Promise<void>)[] = [];
  let current: TestCluster<T> | undefined;
  // Three servers starting on a busy machine take longer than the default hook bound.
  beforeAll(async () => {
    current = await open();
  }, 300_000);
  afterAll(async () => {
    for (const step of cleanup) await step().catch(() => {});
    cleanup = [];
  }, 120_000);
  return new Proxy({} as TestCluster<T>, {
    get(_target, property) {
      if (!current) throw new Error('the cluster is open only inside its tests');
      return current[property as keyof TestCluster<T>];
    },
  });

  async function open(): Promise<TestCluster<T>> {
    const undo = (step: () => Promise<void> | void) => {
      cleanup.unshift(async () => step());
    };
    const fake = await startFakeLlm({ apiKey: CLUSTER_FAKE_KEY });
    undo(() => fake.close());
    const storage = await createTestStorage('postgres');
    undo(() => storage.dispose());
    const root = mkdtempSync(path.join(os.tmpdir(), 'braincells-cluster-test-'));
    undo(() => rmSync(root, { recursive: true, force: true }));
    const secret = randomBytes(32).toString('base64url');
    registerTestSecret('provider-key', secret);
    const seeded = await seedDataDir(
      path.join(root, 'seed'),
      {
        fakeUrl: fake.url,
        providerKey: CLUSTER_FAKE_KEY,
        projectName: 'Cluster',
        config: { databaseUrl: storage.databaseUrl, secret: { current: secret, previous: [] } },
      },
      async (seeding) =>
        options.more ? options.more({ ...seeding, fakeUrl: fake.url }) : ({} as T),
    );
    const cluster = await startCluster({
      databaseUrl: storage.databaseUrl!,
      redisUrl: TEST_REDIS_URL,
      secret,
      root,
      roles: options.roles,
      ...(options.fixedPorts ? { basePort: await freePortRange(options.roles.length) } : {}),
      env: {
        LOG_LEVEL: 'info',
        TZ: 'UTC',
        // Every test request comes from 127.0.0.1, as do other test files' sharing this Redis.
        BRAINCELLS_RATE_LIMIT_PER_IP: '1000000',
        BRAINCELLS_RATE_LIMIT_AUTH: '100000',
        ...options.env,
      },
      onOutput: (_server, text) => appendRunLog(text),
    });
    undo(() => cluster.close());
    const database = await openDatabase({
      kind: 'postgres',
      connectionString: storage.databaseUrl!,
      poolSize: 2,
    });
    undo(() => database.close());
    const url = (index: number) => {
      const server = cluster.servers[index];
      if (!server?.url) throw new Error(`server ${index} is not running`);
      return server.url;
    };
    return {
      cluster,
      fake,
      db: database.db,
      seeded,
      headers: { authorization: `Bearer ${seeded.key}`, 'content-type': 'application/json' },
      url,
      serverOfPid(pid: number) {
        const index = cluster.servers.findIndex((server) => server.process?.pid === pid);
        if (index === -1) throw new Error(`no running server has pid ${pid}`);
        return index;
      },
    };
  }
}

export interface SseEvent {
  id: number;
  type: string;
  data: unknown;
}

/**
 * A Server-Sent Events client: every event it has read, and `until(predicate)`, which resolves
 * with the first event (read or still to come) that matches.
 */
export async function openSse(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  if (response.status !== 200 || !response.body)
    throw new Error(`SSE ${url}: HTTP ${response.status} ${await response.text()}`);
  const events: SseEvent[] = [];
  const waiters = new Set<{ match: (event: SseEvent) => boolean; resolve(e: SseEvent): void }>();
  let failed: unknown;
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: ?(.*)$/m.exec(block)?.[1];
        const data = /^data: ?(.*)$/m.exec(block)?.[1];
        if (!type || data === undefined) continue;
        const event = { id: Number(/^id: ?(.*)$/m.exec(block)?.[1]), type, data: JSON.parse(data) };
        events.push(event);
        for (const waiter of waiters)
          if (waiter.match(event)) {
            waiters.delete(waiter);
            waiter.resolve(event);
          }
      }
    }
  })().catch((error: unknown) => {
    failed = error;
  });
  return {
    events,
    until(match: (event: SseEvent) => boolean): Promise<SseEvent> {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      if (failed && !controller.signal.aborted) return Promise.reject(failed);
      return new Promise((resolve) => waiters.add({ match, resolve }));
    },
    async close() {
      controller.abort();
      await reading;
    },
  };
}
