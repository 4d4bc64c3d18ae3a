import { fromPglite, type Job, PgBoss, type QueueOptions, type SendOptions } from 'pg-boss';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { createJobDispatcher, type JobDispatcher } from './job-dispatcher.ts';

/**
 * A job type a feature registers before the queue starts. Names are `feature.verb`
 * (`sheets.import-file`); the handler receives one job at a time.
 */
export interface JobDefinition<Data extends object = object> {
  name: string;
  handler: (job: Job<Data>) => Promise<unknown>;
  queue?: Omit<QueueOptions, 'name'>;
  /** Jobs this process runs at once for this name. */
  concurrency?: number;
}

export interface QueueDepth {
  name: string;
  queued: number;
  active: number;
}

export interface JobQueue {
  register<Data extends object>(definition: JobDefinition<Data>): void;
  start(): Promise<void>;
  stop(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Queues a job. With a `singletonKey` at most one job of that key waits at a time, whatever
   * the number of servers: sending again moves the waiting one to the new `startAfter` (the
   * only other option then taken into account).
   */
  send<Data extends object>(name: string, data: Data, options?: SendOptions): Promise<string>;
  depth(): Promise<QueueDepth[]>;
  ping(): Promise<void>;
  readonly started: boolean;
  /** Whether this process runs workers (`work`). */
  readonly works: boolean;
  /** The pg-boss instance, for features that need an API not wrapped here. */
  readonly boss: PgBoss;
}

export interface JobQueueOptions {
  database: Database;
  logger: Logger;
  /** Run workers in this process (off for API-only nodes and most route tests). */
  work: boolean;
  /** Seconds between ready probes (default 2): the longest wait of a job no wake-up announces. */
  pollingIntervalSeconds?: number;
}

/** pg-boss's flow (job dependency) pass: we send no flows, so it only has to run rarely. */
const FLOW_INTERVAL_SECONDS = 3_600;

/**
 * The queues, of those named, with a job ready to start. One index probe per queue (pg-boss's
 * `job_i5`, on `(name, start_after)` for jobs not yet active), however many jobs wait.
 */
export const READY_PROBE_SQL = `select queue.name from unnest($1::text[]) as queue(name)
  where exists (select 1 from pgboss.job j where j.name = queue.name
    and j.state < 'active' and not j.blocked and j.start_after <= now())`;

export function createJobQueue(options: JobQueueOptions): JobQueue {
  const { database, logger } = options;
  const pollingIntervalSeconds = options.pollingIntervalSeconds ?? 2;
  // On PostgreSQL several servers share the queues: a job sent on one (an api server, or a
  // worker busy elsewhere) must wake the fetchers of the others at once, not at their next probe.
  // pg-boss does it with LISTEN/NOTIFY on queues created with `notify` (one more connection per
  // process); the ready probe stays as the backstop. PGlite is one process: the sender wakes its
  // own fetcher (`send` below).
  const shared = database.kind === 'postgres';
  // No job here depends on another (pg-boss flows): the pass that releases dependants, every 5 s
  // by default, would be three idle statements per interval on every server, one of them a write.
  const common = { schedule: false, flowIntervalSeconds: FLOW_INTERVAL_SECONDS };
  const boss =
    database.kind === 'pglite'
      ? new PgBoss({ ...common, db: fromPglite(database.pglite!), backend: 'pglite' })
      : new PgBoss({
          ...common,
          connectionString: database.connectionString!,
          max: 4,
          useListenNotify: true,
        });
  boss.on('error', (error) => logger.error({ err: error }, 'job queue error'));
  boss.on('warning', (warning) => logger.warn({ warning }, 'job queue warning'));

  const definitions = new Map<string, JobDefinition>();
  // This process's fetchers by job name (one per queue, whatever its concurrency).
  const dispatchers = new Map<string, JobDispatcher>();
  let probe: NodeJS.Timeout | undefined;
  let started = false;

  if (shared && options.work) wakeOnNotify(boss, dispatchers);

  // The one statement an idle server runs per interval: which of the queues with a free slot
  // here have a job ready. It finds what no wake-up announces (a job whose `startAfter` came, a
  // retry whose delay ended, a NOTIFY missed while the listener was down) and wakes their
  // fetchers. A queue whose slots are all busy is left out: it fetches when a slot frees.
  const probeReady = async () => {
    const names = [...dispatchers.values()]
      .filter((dispatcher) => dispatcher.free > 0)
      .map((dispatcher) => dispatcher.name);
    if (names.length === 0) return;
    const { rows } = await boss.getDb().executeSql(READY_PROBE_SQL, [names]);
    for (const row of rows as { name: string }[]) dispatchers.get(row.name)?.wake();
  };
  const scheduleProbe = () => {
    probe = setTimeout(() => {
      void probeReady()
        .catch((error: unknown) => logger.error({ err: error }, 'job queue probe failed'))
        .finally(() => {
          if (started) scheduleProbe();
        });
    }, pollingIntervalSeconds * 1000);
    probe.unref();
  };

  return {
    boss,
    works: options.work,
    get started() {
      return started;
    },
    register(definition) {
      if (started) throw new Error(`job ${definition.name} registered after the queue started`);
      if (definitions.has(definition.name))
        throw new Error(`job ${definition.name} registered twice`);
      definitions.set(definition.name, definition as unknown as JobDefinition);
    },
    async start() {
      if (started) return;
      await boss.start();
      for (const definition of definitions.values()) {
        await boss.createQueue(definition.name, definition.queue ?? {});
        // Also for queues made before notify existed here (create_queue keeps an existing one).
        if (shared) await boss.updateQueue(definition.name, { notify: true });
        if (!options.work) continue;
        dispatchers.set(
          definition.name,
          createJobDispatcher({
            boss,
            name: definition.name,
            concurrency: definition.concurrency ?? 1,
            handler: async (job) => {
              const log = logger.child({ job: definition.name, jobId: job.id });
              log.debug('job started');
              try {
                const result = await definition.handler(job);
                log.debug('job finished');
                return result;
              } catch (error) {
                log.error({ err: error }, 'job failed');
                throw error;
              }
            },
            onError: (error) =>
              logger.error({ err: error, job: definition.name }, 'job queue error'),
          }),
        );
      }
      started = true;
      if (options.work) {
        // Jobs left from before the start run now, not at the first probe.
        for (const dispatcher of dispatchers.values()) dispatcher.wake();
        scheduleProbe();
      }
    },
    async stop({ timeoutMs = 10_000 } = {}) {
      if (!started) return;
      started = false;
      clearTimeout(probe);
      await Promise.all([...dispatchers.values()].map((dispatcher) => dispatcher.stop(timeoutMs)));
      dispatchers.clear();
      // On PGlite the database belongs to the app and is closed after the queue. On PostgreSQL
      // pg-boss made its own pool: left open, its idle connections held the process (and the
      // server's connection slots) until pg's idle timeout, 10 s after every stop.
      await boss.stop({ graceful: true, close: database.kind === 'postgres', timeout: timeoutMs });
    },
    async send(name, data, sendOptions) {
      if (!definitions.has(name)) throw new Error(`unknown job ${name}`);
      // pg-boss enforces a singletonKey only on some queue policies, not on our `standard`
      // queues: a self-rescheduling job (a purge, a sweep) that every server schedules at start
      // would gain one more chain per start. Upserted instead: a job of that key still waiting
      // takes the new start time, and no second one is queued.
      const id =
        sendOptions?.singletonKey === undefined
          ? await boss.send(name, data, sendOptions ?? {})
          : (
              await boss.upsert(name, data, {
                singletonKey: sendOptions.singletonKey,
                ...(sendOptions.startAfter === undefined
                  ? {}
                  : { startAfter: sendOptions.startAfter }),
              })
            ).jobs[0];
      if (!id) throw new Error(`job ${name} was not queued`);
      if (!sendOptions?.startAfter) dispatchers.get(name)?.wake();
      return id;
    },
    async depth() {
      // Counted live from the job table: pg-boss's own queue counts are refreshed lazily.
      const names = [...definitions.keys()];
      const { rows } = await boss.getDb().executeSql(
        `select name,
           count(*) filter (where state in ('created', 'retry'))::int as queued,
           count(*) filter (where state = 'active')::int as active
         from pgboss.job where name = any($1::text[]) and state in ('created', 'retry', 'active')
         group by name`,
        [names],
      );
      const byName = new Map(rows.map((row: QueueDepth) => [row.name, row]));
      return names.map((name) => ({
        name,
        queued: byName.get(name)?.queued ?? 0,
        active: byName.get(name)?.active ?? 0,
      }));
    },
    async ping() {
      if (!started) throw new Error('job queue is not running');
      await boss.getDb().executeSql('select 1');
    },
  };
}

/**
 * pg-boss's LISTEN/NOTIFY listener wakes the workers `work` made; the fetchers here are not
 * among them, so the listener's callbacks are extended to wake them too (the payload is the
 * queue's name; a reconnection may have missed some, so it wakes all). The listener itself —
 * its own connection, heartbeat and reconnection — stays pg-boss's.
 */
function wakeOnNotify(boss: PgBoss, dispatchers: Map<string, JobDispatcher>): void {
  type Listen = (
    channel: string,
    onNotification: (payload: string) => void,
    onReconnect: () => void,
  ) => Promise<unknown>;
  const db = boss.getDb() as { listen?: Listen };
  const listen = db.listen?.bind(db);
  if (!listen) return;
  db.listen = (channel, onNotification, onReconnect) =>
    listen(
      channel,
      (payload) => {
        onNotification(payload);
        dispatchers.get(payload)?.wake();
      },
      () => {
        onReconnect();
        for (const dispatcher of dispatchers.values()) dispatcher.wake();
      },
    );
}
