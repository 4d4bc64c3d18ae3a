// CPU time per cell filled, by process, for the cluster bench's fills (cluster-servers-bench.ts):
// each server process, the PostgreSQL backends of the bench's database, the Redis server and the
// bench process itself (the fake LLM and the polling). On 2 shared cores CPU per cell is what
// bounds the fill's rate, and unlike the wall time it means something on a loaded machine.
// Linux only (/proc/<pid>/stat); elsewhere every figure is NaN.
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';

/** sysconf(_SC_CLK_TCK): 100 on Linux. */
const TICKS_PER_SECOND = 100;

/** utime + stime of a process in ms (undefined once it is gone). */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields 14 and 15 of stat(5); after "pid (comm) " they are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export interface CpuShare {
  label: string;
  ms: number;
}

/**
 * Starts counting: the servers' pids as given, the database's backends as PostgreSQL lists them
 * (polled every second, so that a backend which exits during the fill still counts up to its
 * last poll, and one that starts counts from zero), Redis's process as it reports its own pid.
 * Redis is the whole instance: other users of it during the fill count too.
 */
export async function startCpuMeter(options: {
  servers: { label: string; pid: number | undefined }[];
  databaseUrl: string;
  redisUrl: string;
}) {
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  const redis = new Redis(options.redisUrl);
  const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  redis.disconnect();
  const backends = new Map<number, { first: number; last: number }>();
  const pollBackends = async () => {
    const { rows } = await client.query<{ pid: number }>(
      `select pid from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid()`,
    );
    for (const { pid } of rows) {
      const ms = processCpuMs(pid);
      if (ms === undefined) continue;
      const known = backends.get(pid);
      if (known) known.last = ms;
      // Seen on the first poll: counted from now; later: it started during the fill.
      else backends.set(pid, { first: started ? 0 : ms, last: ms });
    }
  };
  let started = false;
  await pollBackends();
  started = true;
  const first = {
    servers: options.servers.map(({ pid }) => (pid ? processCpuMs(pid) : undefined)),
    redis: processCpuMs(redisPid),
    self: process.cpuUsage(),
  };
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(pollBackends).catch(() => {});
  }, 1_000);
  return {
    async stop(): Promise<CpuShare[]> {
      clearInterval(timer);
      await polling;
      const servers = options.servers.map(({ label, pid }, index) => ({
        label,
        ms:
          (pid ? (processCpuMs(pid) ?? Number.NaN) : Number.NaN) -
          (first.servers[index] ?? Number.NaN),
      }));
      await pollBackends();
      await client.end();
      const self = process.cpuUsage(first.self);
      return [
        ...servers,
        {
          label: `PostgreSQL (${backends.size} backends of the database)`,
          ms: [...backends.values()].reduce((sum, { first, last }) => sum + last - first, 0),
        },
        {
          label: 'Redis (the whole instance)',
          ms: (processCpuMs(redisPid) ?? Number.NaN) - (first.redis ?? Number.NaN),
        },
        { label: 'bench process (fake LLM, polling)', ms: (self.user + self.system) / 1000 },
      ];
    },
  };
}

/**
 * One line per process and the total: ms of CPU per cell (or per `unit`: `count` of them), and
 * the share of the total.
 */
export function formatCpuPerCell(shares: CpuShare[], count: number, unit = 'cell'): string {
  const cells = count;
  const total = shares.reduce((sum, { ms }) => sum + (Number.isNaN(ms) ? 0 : ms), 0);
  const line = (label: string, ms: number) =>
    `  ${(ms / cells).toFixed(3).padStart(7)} ms/${unit.padEnd(6)}  ${((100 * ms) / total).toFixed(0).padStart(3)}%  ${label}`;
  return [
    ...shares.map(({ label, ms }) => line(label, ms)),
    line(
      `total (${(total / 1000).toFixed(1)} s of CPU for ${count} ${unit}${count === 1 ? '' : 's'})`,
      total,
    ),
  ].join('\n');
}
