import type { Logger } from '../logger.ts';
import type { JobQueue } from './job-queue.ts';

/** A job that runs every so often, on whichever server's worker takes it. */
export interface RecurringJobDefinition {
  /** `feature.verb`, also its singleton key: one run waits at a time across servers. */
  name: string;
  everySeconds: number;
  /** The first run's delay once the queue starts (default `everySeconds`). */
  firstAfterSeconds?: number;
  run: () => Promise<unknown>;
}

export interface RecurringJob {
  /** Queues the first run; call once the queue runs (a no-op when it does not). */
  start(): Promise<void>;
}

/**
 * Registers a self-rescheduling job: each run queues the next `everySeconds` later, also when it
 * failed (a run that throws must not end the chain until the next restart). Queued as a
 * singleton, so servers that each schedule it at start keep one chain between them.
 */
export function registerRecurringJob(
  jobs: JobQueue,
  logger: Logger,
  definition: RecurringJobDefinition,
): RecurringJob {
  const { name, everySeconds } = definition;
  const schedule = (delaySeconds: number) =>
    jobs
      .send(name, {}, { singletonKey: name, startAfter: delaySeconds })
      .catch((error: unknown) => {
        logger.debug({ err: error, job: name }, 'job already scheduled');
      });
  jobs.register({
    name,
    handler: async () => {
      try {
        return await definition.run();
      } finally {
        await schedule(everySeconds);
      }
    },
  });
  return {
    async start() {
      if (jobs.started) await schedule(definition.firstAfterSeconds ?? everySeconds);
    },
  };
}
