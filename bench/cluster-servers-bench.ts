// Real `braincells serve` processes on one PostgreSQL, one Redis and one shared storage folder
// (scripts/cluster-servers.ts), part of `npm run bench -- cluster` (cluster.bench.ts):
//  - AI-column fill, provider cap C = 64, every call 200 ± 100 ms (fake LLM): N rows in one
//    dataset on one server, and N rows split over three datasets, one held by each of three
//    servers, all runs at once. Both against the ideal N·L̄/C; the fake server's peak of
//    requests in flight shows the cap held across servers. (One dataset's run executes on the
//    server holding the dataset, so one column on three servers is the one-server figure.)
//  - A dataset window (100 rows) read through a server that forwards it to the holder, against
//    the same window from the holder, alternated.
//  - Lease takeover: the holder of a dataset is killed (SIGKILL); the time until an edit sent to
//    another server succeeds.
// Settings: CLUSTER_BENCH_ROWS (default 10,000, the figure; fewer for a quick look),
// CLUSTER_BENCH_WINDOWS (default 300 reads each way), CLUSTER_BENCH_LEASE_TTL (default 10s),
// REDIS_URL, CLUSTER_BENCH_FILLS_ONLY=1 (the fills alone; each prints its CPU per cell by
// process, cluster-cpu.ts). CLUSTER_BENCH_PROFILE=<dir>: the fills only, each server under V8's CPU profiler
// (`--cpu-prof`, files in <dir>/one and <dir>/three, open them in Chrome DevTools), self time
// printed by package / our file and by our function.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  type Cluster,
  createClusterDatabase,
  freePortRange,
  startCluster,
} from '../scripts/cluster-servers.ts';
import { buildApp } from '../src/app.ts';
import { insertUser } from '../src/auth/user-store.ts';
import { loadConfig } from '../src/platform/config.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import { startFakeLlm } from '../tools/fake-llm/fake-llm-server.ts';
import { codeGroup } from './bench-profile.ts';
import { type BenchRow, percentile, round } from './bench-types.ts';
import { formatCpuPerCell, startCpuMeter } from './cluster-cpu.ts';

const KEY = 'fake-cluster-provider-key';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROWS = Number(process.env.CLUSTER_BENCH_ROWS ?? 10_000);
const WINDOWS = Number(process.env.CLUSTER_BENCH_WINDOWS ?? 300);
const LEASE_TTL = process.env.CLUSTER_BENCH_LEASE_TTL ?? '10s';
const PROFILE = process.env.CLUSTER_BENCH_PROFILE
  ? path.resolve(process.env.CLUSTER_BENCH_PROFILE)
  : undefined;
/** CLUSTER_BENCH_FILLS_ONLY=1: the two fills, without the windows and the takeover. */
const FILLS_ONLY = process.env.CLUSTER_BENCH_FILLS_ONLY === '1';
const CAP = 64;
/** How long the servers' idle CPU is measured before each fill. */
const IDLE_MS = 5_000;
const MEAN_LATENCY_MS = 200;
const FILL_GOAL = 0.9;
const TAKEOVER_GOAL_MS = 15_000;
const log = (text: string) => process.stderr.write(`bench: cluster: ${text}\n`);

interface Seeded {
  projectId: string;
  providerId: string;
  headers: Record<string, string>;
}

/** A user, a project, an API key and the fake provider (cap 64), written straight to the database. */
async function seed(databaseUrl: string, secret: string, dir: string, fakeUrl: string) {
  const config = {
    ...loadConfig({}, {}),
    dataDir: dir,
    databaseUrl,
    secret: { current: secret, previous: [] },
    jobsEnabled: false,
    logLevel: 'silent' as const,
  };
  const platform = await openPlatform(config, createLogger({ level: 'silent', format: 'json' }));
  const app = await buildApp(platform);
  await app.ready();
  try {
    const user = await insertUser(platform.database.db, {
      id: uuidv7(),
      email: `${uuidv7()}@example.test`,
      display_name: 'Bench',
      password_hash: 'x',
      is_admin: false,
      now: new Date(),
    });
    const actor = {
      userId: user.id,
      isAdmin: false,
      via: 'session' as const,
      scopes: ['read', 'write', 'admin'] as ('read' | 'write' | 'admin')[],
      credentialId: undefined,
    };
    const project = await app.services.projects.createProject(actor, {
      name: 'Cluster bench',
      description: '',
    });
    const { key } = await app.services.apiKeys.create(actor, {
      name: 'bench',
      scopes: ['read', 'write'],
    });
    const provider = await app.llm.admin.createProvider(actor, project.id, {
      name: 'fake',
      kind: 'openai',
      baseUrl: `${fakeUrl}/v1`,
      apiKey: KEY,
      maxConcurrency: CAP,
    });
    return {
      projectId: project.id,
      providerId: provider.id,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    } satisfies Seeded;
  } finally {
    await app.close();
    await platform.close();
  }
}

export async function clusterServersBench(serverUrl: string): Promise<BenchRow[]> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bc-bench-cluster-'));
  const created = await createClusterDatabase(serverUrl);
  const fake = await startFakeLlm({ apiKey: KEY, record: false });
  const secret = randomBytes(32).toString('base64url');
  const clusters: Cluster[] = [];
  const rows: BenchRow[] = [];
  try {
    mkdirSync(path.join(root, 'seed'));
    const seeded = await seed(created.url, secret, path.join(root, 'seed'), fake.url);
    const open = async (name: string, servers: number) => {
      const cluster = await startCluster({
        databaseUrl: created.url,
        redisUrl: REDIS_URL,
        secret,
        root: path.join(root, name),
        roles: Array(servers).fill('all'),
        basePort: await freePortRange(servers),
        env: {
          LOG_LEVEL: 'info',
          BRAINCELLS_DATASET_LEASE_TTL: LEASE_TTL,
          BRAINCELLS_RATE_LIMIT_PER_IP: '1000000',
          BRAINCELLS_RATE_LIMIT_PER_USER: '1000000',
          BRAINCELLS_SHUTDOWN_TIMEOUT_MS: '2000',
          ...(PROFILE
            ? {
                NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.join(PROFILE, name)} --cpu-prof-interval=500`,
              }
            : {}),
        },
      });
      clusters.push(cluster);
      return cluster;
    };
    const api = (cluster: Cluster, server: number) => {
      const base = `${cluster.servers[server]!.url}/api/projects/${seeded.projectId}/datasets`;
      return async <T>(method: string, url: string, body?: unknown) => {
        const response = await fetch(`${base}${url}`, {
          method,
          headers: seeded.headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
      };
    };
    /** A dataset held by `server`: `count` rows of distinct items (no cached answer reused). */
    const dataset = async (cluster: Cluster, server: number, label: string, count: number) => {
      const call = api(cluster, server);
      const made = await call<{ id: string; columns: { id: string }[] }>('POST', '', {
        name: label,
        rows: 0,
        columns: [{ name: 'Item' }],
      });
      if (made.status !== 201) throw new Error(`dataset: HTTP ${made.status}`);
      const item = made.body.columns[0]!.id;
      for (let from = 0; from < count; from += 10_000) {
        const batch = Array.from({ length: Math.min(10_000, count - from) }, (_, index) => ({
          [item]: `${label} item ${from + index}`,
        }));
        const appended = await call('POST', `/${made.body.id}/rows`, { rows: batch });
        if (appended.status !== 201) throw new Error(`rows: HTTP ${appended.status}`);
      }
      return { id: made.body.id, item };
    };
    /** Starts an AI column on each dataset at once; resolves with the wall time until all end. */
    const fill = async (cluster: Cluster, targets: { server: number; id: string }[]) => {
      fake.reset();
      const cpuMeter = () =>
        startCpuMeter({
          servers: cluster.servers.map((server) => ({
            label: `server ${server.name}`,
            pid: server.process?.pid,
          })),
          databaseUrl: created.url,
          redisUrl: REDIS_URL,
        });
      // What the servers cost doing nothing (heartbeats, pollers, presence) for IDLE_MS: part
      // of each cell's CPU below is that rate times the fill's length.
      const idleMeter = await cpuMeter();
      await delay(IDLE_MS);
      const idle = await idleMeter.stop();
      log(
        `CPU per second idle, ${cluster.servers.length} server${cluster.servers.length > 1 ? 's' : ''}, before the fill:\n` +
          formatCpuPerCell(idle, IDLE_MS / 1000, 'second'),
      );
      const meter = await cpuMeter();
      const started = performance.now();
      const phases = samplePhases(started);
      const runs = await Promise.all(
        targets.map(async ({ server, id }) => {
          const answer = await api(cluster, server)<{ run: { id: string } }>(
            'POST',
            `/${id}/ai-columns`,
            {
              name: 'Summary',
              prompt: 'Summarise {{Item}}',
              provider: seeded.providerId,
              model: `gpt-4o-mini@latency=${MEAN_LATENCY_MS},jitter=100,seed=${id}`,
            },
          );
          if (answer.status !== 201) throw new Error(`ai column: HTTP ${answer.status}`);
          return { server, id, runId: answer.body.run.id };
        }),
      );
      for (const run of runs) {
        for (;;) {
          const view = await api(cluster, run.server)<{
            status: string;
            progress: { done: number };
            error?: unknown;
          }>('GET', `/${run.id}/runs/${run.runId}`);
          if (view.status === 200 && !['queued', 'running'].includes(view.body.status)) {
            if (view.body.status !== 'completed')
              throw new Error(`run ${view.body.status}: ${JSON.stringify(view.body.error)}`);
            break;
          }
          await delay(100);
        }
      }
      const ms = performance.now() - started;
      const seen = phases.stop();
      const cpu = await meter.stop();
      log(
        `CPU per cell, ${cluster.servers.length} server${cluster.servers.length > 1 ? 's' : ''} (load ${os
          .loadavg()
          .map((value) => value.toFixed(1))
          .join(' ')}):\n${formatCpuPerCell(cpu, ROWS)}`,
      );
      // The same less what the processes spent at their idle rate for as long as the fill took
      // (a fill slowed down by a loaded machine pays more of it): what the cells themselves cost.
      const aboveIdle = cpu.map((share, index) => ({
        label: share.label,
        ms: share.ms - ((idle[index]?.ms ?? 0) * ms) / IDLE_MS,
      }));
      log(
        `CPU per cell above the idle rate (${round(ms / 1000)} s of fill):\n${formatCpuPerCell(aboveIdle, ROWS)}`,
      );
      log(
        `fill phases: first provider call after ${round(seen.firstCallMs)} ms, ${CAP} in flight after ${round(seen.capReachedMs)} ms; ` +
          `steady ${round(seen.steadyPerSecond)} calls/s (C/L̄ ${round((CAP * 1000) / MEAN_LATENCY_MS)}) until the last call was sent at ${round(seen.lastSentMs)} ms; ` +
          `last call ended ${round(seen.lastEndMs - seen.lastSentMs)} ms later, run completed (as polled) ${round(ms - seen.lastEndMs)} ms after that; ` +
          `${round(seen.meanInFlight)} calls in flight on average between the first and the last (cap ${CAP})`,
      );
      return { ms, maxInFlight: fake.stats().maxInFlight, phases: seen, cpu };
    };
    /**
     * Samples the fake provider every 5 ms while a fill runs, to tell the run's start, its
     * steady state and its end apart: when the first call arrived and when `CAP` were first in
     * flight (the fake's own peak, not a sample), when the last call was sent and when the last
     * one ended; the calls completed per second between `CAP` in flight and the last call sent
     * (the steady rate, against C/L̄; from the first call when `CAP` took over 2 s to come), and
     * the mean in flight from the first call to the last end.
     */
    const samplePhases = (started: number) => {
      let firstCallMs = Number.NaN;
      let capReachedMs = Number.NaN;
      let completedAtCap = 0;
      let lastSentMs = 0;
      let completedAtLastSent = 0;
      let lastReceived = 0;
      let lastEndMs = 0;
      let lastCompleted = 0;
      let inFlightSum = 0;
      let samples = 0;
      const timer = setInterval(() => {
        const stats = fake.stats();
        const at = performance.now() - started;
        if (Number.isNaN(firstCallMs) && stats.received > 0) firstCallMs = at;
        if (Number.isNaN(capReachedMs) && stats.maxInFlight >= CAP) {
          capReachedMs = at;
          completedAtCap = stats.completed;
        }
        if (stats.received !== lastReceived) {
          lastReceived = stats.received;
          lastSentMs = at;
          completedAtLastSent = stats.completed;
        }
        if (stats.completed !== lastCompleted) {
          lastCompleted = stats.completed;
          lastEndMs = at;
        }
        if (!Number.isNaN(firstCallMs)) {
          inFlightSum += stats.inFlight;
          samples++;
        }
      }, 5);
      return {
        stop() {
          clearInterval(timer);
          // From `CAP` in flight — unless the cap came late (a server short of CPU ramps up
          // for most of the run, or never gets there): then from the first call.
          const late = Number.isNaN(capReachedMs) || capReachedMs - firstCallMs > 2_000;
          const steadyFrom = late ? firstCallMs : capReachedMs;
          const steadyFromCompleted = late ? 0 : completedAtCap;
          return {
            firstCallMs,
            capReachedMs,
            lastSentMs,
            lastEndMs,
            steadyPerSecond:
              lastSentMs > steadyFrom
                ? ((completedAtLastSent - steadyFromCompleted) * 1000) / (lastSentMs - steadyFrom)
                : 0,
            meanInFlight: samples > 0 ? inFlightSum / samples : 0,
          };
        },
      };
    };
    const ideal = (rows: number) => (rows * MEAN_LATENCY_MS) / CAP;
    type Filled = Awaited<ReturnType<typeof fill>>;
    /** Where the fill's time went, besides the ideal: the start, the steady state, the end. */
    const phaseRows = (servers: number, measured: Filled): BenchRow[] => {
      const label = `  fill, ${servers} server${servers > 1 ? 's' : ''}`;
      const { phases } = measured;
      const idealRate = (CAP * 1000) / MEAN_LATENCY_MS;
      return [
        {
          name: `${label}: run start (POST to the first provider call)`,
          value: round(phases.firstCallMs / 1000),
          unit: 's',
          against: { label: 'fill', value: round(measured.ms / 1000) },
          ratio: round(phases.firstCallMs / measured.ms),
        },
        {
          name: `${label}: run start (POST to ${CAP} calls in flight)`,
          value: round(phases.capReachedMs / 1000),
          unit: 's',
          against: { label: 'fill', value: round(measured.ms / 1000) },
          ratio: round(phases.capReachedMs / measured.ms),
        },
        {
          name: `${label}: steady state (${CAP} in flight, or the first call if that took over 2 s, to the last call sent)`,
          value: round(phases.steadyPerSecond),
          unit: 'calls/s',
          against: { label: 'C/L̄', value: round(idealRate) },
          ratio: round(phases.steadyPerSecond / idealRate),
        },
        {
          name: `${label}: tail (last call sent to run completed, as polled)`,
          value: round((measured.ms - phases.lastSentMs) / 1000),
          unit: 's',
          against: { label: 'fill', value: round(measured.ms / 1000) },
          ratio: round((measured.ms - phases.lastSentMs) / measured.ms),
        },
        {
          name: `${label}: mean calls in flight while calling`,
          value: round(phases.meanInFlight),
          unit: 'calls',
          against: { label: 'cap', value: CAP },
          ratio: round(phases.meanInFlight / CAP),
        },
      ];
    };
    const fillRow = (servers: number, measured: Filled) => {
      const ratio = round(ideal(ROWS) / measured.ms);
      return {
        name: `AI-column fill, ${ROWS} rows, cap ${CAP}, ${servers} server${servers > 1 ? 's' : ''} (peak in flight ${measured.maxInFlight})`,
        value: round(measured.ms / 1000),
        unit: 's',
        against: { label: 'N·L̄/C', value: round(ideal(ROWS) / 1000) },
        ratio,
        goal: `≥ ${FILL_GOAL} of N·L̄/C, peak ≤ ${CAP}`,
        pass: ratio >= FILL_GOAL && measured.maxInFlight <= CAP,
      } satisfies BenchRow;
    };

    // 1. One server.
    log(`one server, ${ROWS} rows`);
    const one = await open('one', 1);
    const single = await dataset(one, 0, 'one', ROWS);
    const before = await databaseCounts(created.url);
    const redisBefore = await redisCounts();
    const oneFill = await fill(one, [{ server: 0, id: single.id }]);
    printRedisCounts(redisBefore, await redisCounts(), ROWS);
    rows.push(fillRow(1, oneFill), ...phaseRows(1, oneFill));
    await one.close();
    // Read once the server has exited: its backends flushed their statistics.
    printDatabaseCounts(before, await databaseCounts(created.url), ROWS);
    if (PROFILE) printProfiles(path.join(PROFILE, 'one'));

    // 2. Three servers, a third of the rows each, on datasets they hold.
    log(`three servers, ${ROWS} rows over three datasets`);
    const three = await open('three', 3);
    const parts = await Promise.all(
      [0, 1, 2].map(async (server) => ({
        server,
        ...(await dataset(three, server, `three-${server}`, Math.round(ROWS / 3))),
      })),
    );
    const threeFill = await fill(three, parts);
    rows.push(fillRow(3, threeFill), ...phaseRows(3, threeFill));
    const cpuPerCell = (measured: Filled) =>
      round(measured.cpu.reduce((sum, { ms }) => sum + (Number.isNaN(ms) ? 0 : ms), 0) / ROWS);
    rows.push({
      name: 'AI-column fill, CPU per cell, every process (servers, PostgreSQL, Redis, fake LLM), 3 servers',
      value: cpuPerCell(threeFill),
      unit: 'ms',
      against: { label: '1 server', value: cpuPerCell(oneFill) },
      ratio: round(cpuPerCell(threeFill) / Math.max(cpuPerCell(oneFill), 0.001)),
    });
    if (FILLS_ONLY) {
      await three.close();
      return rows;
    }
    if (PROFILE) {
      await three.close();
      printProfiles(path.join(PROFILE, 'three'));
      return rows;
    }

    // 3. A window through a server that does not hold the dataset, against the holder.
    log(`${WINDOWS} windows each way`);
    const held = parts[0]!;
    const owner = api(three, 0);
    const other = api(three, 1);
    const direct: number[] = [];
    const forwarded: number[] = [];
    const read = async (call: typeof owner, into: number[], offset: number) => {
      const started = performance.now();
      const answer = await call('GET', `/${held.id}/rows?limit=100&offset=${offset}`);
      if (answer.status !== 200) throw new Error(`window: HTTP ${answer.status}`);
      into.push(performance.now() - started);
    };
    for (let n = 0; n < WINDOWS; n++) {
      const offset = (n * 97) % Math.max(1, Math.round(ROWS / 3) - 100);
      if (n % 2 === 0) {
        await read(owner, direct, offset);
        await read(other, forwarded, offset);
      } else {
        await read(other, forwarded, offset);
        await read(owner, direct, offset);
      }
    }
    const p = (values: number[], at: number) =>
      round(
        percentile(
          [...values].sort((x, y) => x - y),
          at,
        ),
      );
    rows.push(
      {
        name: 'dataset window p99, through a server that forwards it',
        value: p(forwarded, 99),
        unit: 'ms',
        against: { label: 'from the holder', value: p(direct, 99) },
        ratio: round(p(forwarded, 99) / Math.max(p(direct, 99), 0.01)),
      },
      {
        name: 'dataset window p50, through a server that forwards it',
        value: p(forwarded, 50),
        unit: 'ms',
        against: { label: 'from the holder', value: p(direct, 50) },
        ratio: round(p(forwarded, 50) / Math.max(p(direct, 50), 0.01)),
      },
    );

    // 4. Takeover: the holder of parts[2] is killed; an edit through server 1 until it succeeds.
    log('lease takeover after kill -9');
    const victim = parts[2]!;
    const editor = api(three, 0);
    const window = await editor<{
      rows: { rowId: string; cells: Record<string, { version: number }> }[];
    }>('GET', `/${victim.id}/rows?limit=1`);
    const first = window.body.rows[0]!;
    const version = first.cells[victim.item]!.version;
    const killedAt = performance.now();
    await three.kill(2);
    let attempts = 0;
    for (;;) {
      attempts++;
      const answer = await editor('PATCH', `/${victim.id}/cells`, {
        rowId: first.rowId,
        columnId: victim.item,
        expectedVersion: version,
        value: 'after the takeover',
      });
      if (answer.status === 200) break;
      if (answer.status !== 503) throw new Error(`edit after kill: HTTP ${answer.status}`);
      await delay(50);
    }
    const takeover = performance.now() - killedAt;
    rows.push({
      name: `lease takeover after kill -9 (BRAINCELLS_DATASET_LEASE_TTL=${LEASE_TTL}, ${attempts} edits tried)`,
      value: round(takeover / 1000),
      unit: 's',
      goal: `< ${TAKEOVER_GOAL_MS / 1000} s`,
      pass: takeover < TAKEOVER_GOAL_MS,
    });
    return rows;
  } finally {
    for (const cluster of clusters) await cluster.close().catch(() => {});
    await fake.close();
    await created.drop().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Self time in the servers' CPU profiles (`--cpu-prof`): by package or our file, and our
 * functions on their own, as shares of the busy samples.
 */
function printProfiles(dir: string) {
  const byGroup = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let idle = 0;
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as {
      nodes: { id: number; callFrame: { url: string; functionName: string; lineNumber: number } }[];
      samples: number[];
      timeDeltas: number[];
    };
    const nodes = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
    profile.samples.forEach((id, index) => {
      const frame = nodes.get(id);
      const delta = profile.timeDeltas[index] ?? 0;
      const group = frame ? codeGroup(frame.url, frame.functionName) : '?';
      if (group === '(idle)') {
        idle += delta;
        return;
      }
      byGroup.set(group, (byGroup.get(group) ?? 0) + delta);
      if (frame && group.startsWith('src/')) {
        const name = `${group}:${frame.lineNumber + 1} ${frame.functionName || '(anonymous)'}`;
        byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
      }
    });
  }
  const busy = [...byGroup.values()].reduce((sum, value) => sum + value, 0);
  const top = (map: Map<string, number>, count: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, value]) => `  ${((100 * value) / busy).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n');
  log(
    `CPU profile ${dir}: busy ${round(busy / 1e6)} s, idle ${round(idle / 1e6)} s\n` +
      `by code:\n${top(byGroup, 30)}\nour functions:\n${top(byFunction, 30)}`,
  );
}

/** Redis's own count of each command run so far (INFO commandstats): the whole instance. */
async function redisCounts(): Promise<Map<string, number>> {
  const redis = new Redis(REDIS_URL);
  try {
    const text = await redis.info('commandstats');
    const counts = new Map<string, number>();
    for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
      counts.set(match[1]!, Number(match[2]));
    return counts;
  } finally {
    redis.disconnect();
  }
}

/**
 * Redis commands per row filled (one server), the largest first: scripts (EVALSHA: limiter and
 * breaker) are round trips. Other users of the same Redis during the fill count too.
 */
function printRedisCounts(before: Map<string, number>, after: Map<string, number>, rows: number) {
  const lines = [...after]
    .map(([name, value]) => [name, (value - (before.get(name) ?? 0)) / rows] as const)
    .filter(([, perRow]) => perRow >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([name, perRow]) => `  ${perRow.toFixed(2).padStart(7)}  ${name}`);
  log(`Redis commands per row filled (one server; the whole instance):\n${lines.join('\n')}`);
}

type DatabaseCounts = Map<string, number>;

/** PostgreSQL's own counters for the database: commits, and rows written and read per table. */
async function databaseCounts(url: string): Promise<DatabaseCounts> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const counts: DatabaseCounts = new Map();
    const database = await client.query<{ xact_commit: string; xact_rollback: string }>(
      'select xact_commit, xact_rollback from pg_stat_database where datname = current_database()',
    );
    counts.set('transactions committed', Number(database.rows[0]?.xact_commit ?? 0));
    counts.set('transactions rolled back', Number(database.rows[0]?.xact_rollback ?? 0));
    const tables = await client.query<{
      relname: string;
      ins: string;
      upd: string;
      del: string;
      scans: string;
    }>(
      `select relname, n_tup_ins as ins, n_tup_upd as upd, n_tup_del as del,
              coalesce(seq_scan, 0) + coalesce(idx_scan, 0) as scans
         from pg_stat_user_tables`,
    );
    for (const row of tables.rows)
      for (const kind of ['ins', 'upd', 'del', 'scans'] as const)
        counts.set(`${row.relname} ${kind}`, Number(row[kind]));
    return counts;
  } finally {
    await client.end();
  }
}

/** What the fill cost PostgreSQL, per row filled (the largest first). */
function printDatabaseCounts(before: DatabaseCounts, after: DatabaseCounts, rows: number) {
  const lines = [...after]
    .map(([name, value]) => [name, (value - (before.get(name) ?? 0)) / rows] as const)
    .filter(([, perRow]) => perRow >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
    .map(([name, perRow]) => `  ${perRow.toFixed(2).padStart(7)}  ${name}`);
  log(`PostgreSQL per row filled (one server):\n${lines.join('\n')}`);
}
