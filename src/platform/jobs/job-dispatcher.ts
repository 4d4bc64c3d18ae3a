import type { Job, PgBoss } from 'pg-boss';

/**
 * Runs one queue's jobs in this process, up to `concurrency` at once, fetching them itself.
 *
 * pg-boss's `work` with `localConcurrency: n` starts n workers that each poll the database on
 * their own timer, so an idle server ran one fetch per slot per interval (chat.reply alone has
 * 8). Here a queue has one fetcher, which claims as many jobs as it has free slots in one
 * statement and only when told to (`wake`): a job sent on this server, a NOTIFY from another
 * server, a slot freed while jobs may still wait, or the queue's ready probe
 * (docs/decisions/2026-12-07-one-fetcher-per-queue.md). Each job is then settled as pg-boss's
 * own worker does: an abort signal, heartbeats when the job has `heartbeatSeconds`, a timeout
 * of `expireInSeconds`, and `complete`/`fail` with the handler's result or error.
 */
export interface JobDispatcher {
  readonly name: string;
  /** Slots free now (0 while stopping). */
  readonly free: number;
  /** Claims jobs for the free slots now (or right after the fetch in flight). */
  wake(): void;
  /**
   * Stops fetching, waits for the running jobs up to `timeoutMs`, then fails the ones still
   * running (as pg-boss does at shutdown: they are retried by their queue's policy) and aborts
   * their signals.
   */
  stop(timeoutMs: number): Promise<void>;
}

export interface JobDispatcherOptions {
  boss: PgBoss;
  name: string;
  concurrency: number;
  handler: (job: Job<object>) => Promise<unknown>;
  /** A fetch or a settlement failed (the database is unreachable, say); the job is not lost. */
  onError: (error: unknown) => void;
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

export function createJobDispatcher(options: JobDispatcherOptions): JobDispatcher {
  const { boss, name, concurrency, handler, onError } = options;
  const running = new Map<string, Running>();
  let stopping = false;
  let wanted = false;
  // The last fetch filled every free slot: more jobs may be waiting, so the next freed slot
  // fetches at once instead of waiting for a wake-up.
  let backlog = false;
  let fetching: Promise<void> | undefined;

  const settle = async (job: Job<object>, controller: AbortController) => {
    let heartbeat: NodeJS.Timeout | undefined;
    if (job.heartbeatSeconds && job.heartbeatSeconds > 0) {
      heartbeat = setInterval(
        () => void boss.touch(name, job.id).catch(onError),
        (job.heartbeatSeconds * 1000) / 2,
      );
    }
    let timeout: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      const seconds = Math.max(1, job.expireInSeconds);
      timeout = setTimeout(() => {
        const error = new Error(`handler execution exceeded ${seconds}s`);
        controller.abort(error);
        reject(error);
      }, seconds * 1000);
    });
    try {
      const result = await Promise.race([handler(job), expired]);
      await boss.complete(name, job.id, result as object | undefined);
    } catch (error) {
      await boss.fail(name, job.id, error as object).catch(onError);
    } finally {
      clearTimeout(timeout);
      clearInterval(heartbeat);
    }
  };

  const start = (job: Job<object>) => {
    const controller = new AbortController();
    job.signal = controller.signal;
    const done = settle(job, controller)
      .catch(onError)
      .finally(() => {
        running.delete(job.id);
        if (backlog) dispatcher.wake();
      });
    running.set(job.id, { controller, done });
  };

  const pump = async () => {
    while (wanted && !stopping) {
      wanted = false;
      const free = concurrency - running.size;
      if (free <= 0) {
        // Woken while full: a job may be waiting, take it when a slot frees.
        backlog = true;
        return;
      }
      let jobs: Job<object>[];
      try {
        jobs = await boss.fetch<object>(name, { batchSize: free });
      } catch (error) {
        // The next ready probe tries again; no retry loop against a database that is down.
        wanted = false;
        onError(error);
        return;
      }
      backlog = jobs.length >= free;
      for (const job of jobs) start(job);
    }
  };

  const dispatcher: JobDispatcher = {
    name,
    get free() {
      return stopping ? 0 : Math.max(0, concurrency - running.size);
    },
    wake() {
      wanted = true;
      if (fetching || stopping) return;
      fetching = pump().finally(() => {
        fetching = undefined;
        // A wake-up that came after the loop's last check but before this line.
        if (wanted) dispatcher.wake();
      });
    },
    async stop(timeoutMs) {
      stopping = true;
      // Jobs a fetch in flight claims still run (they are active in the table now).
      await fetching;
      const all = Promise.all([...running.values()].map((entry) => entry.done));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      });
      const late = await Promise.race([all.then(() => false), timedOut]);
      clearTimeout(timer);
      if (!late) return;
      const ids = [...running.keys()];
      await boss.fail(name, ids, { message: 'server shut down while the job ran' }).catch(onError);
      for (const entry of running.values()) entry.controller.abort();
    },
  };
  return dispatcher;
}
