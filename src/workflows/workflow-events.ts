import type { EventBus } from '../platform/events.ts';
import type { DurableRuns } from '../platform/jobs/durable-run.ts';
import { presentRun, type WorkflowRunView } from './workflow-presenter.ts';
import type { WorkflowStore } from './workflow-store.ts';

/** The live stream of one workflow run (`GET …/workflow-runs/:id/events`). */
export const runStream = (runId: string) => `workflow-run:${runId}`;

/**
 * What a run's live view hears (DESIGN.md "Streams"): `run-updated` carries the whole run as
 * `GET …/workflow-runs/:id` answers it, whenever the run or one of its steps changes status;
 * `step-progress` `{ step, done, total }` while a step works through many items (an `extract`
 * step's documents). Both coalesce per key, so a slow client gets the newest of each.
 */
export interface RunEvents {
  /** The run as the API shows it. */
  view(runId: string): Promise<WorkflowRunView>;
  /** Publishes the run's current view. */
  changed(runId: string): Promise<void>;
  progress(runId: string, stepId: string, done: number, total: number): Promise<void>;
}

export function createRunEvents(deps: {
  events: EventBus;
  store: WorkflowStore;
  runs: Pick<DurableRuns, 'steps'>;
}): RunEvents {
  const { events, store, runs } = deps;
  const view = async (runId: string) => {
    const run = await store.findRun(runId);
    if (!run) throw new Error(`workflow run ${runId} vanished`);
    const steps = await store.runSteps(runId);
    const outputs = new Map(
      // Only the steps' own checkpoints: not the many a step keeps inside (an extract step's
      // documents), which the view does not show.
      (await runs.steps(runId, { keyPrefix: 'step:' }))
        .filter((step) => step.status === 'completed')
        .map((step) => [step.key.slice('step:'.length), step.output]),
    );
    return presentRun(run, steps, outputs);
  };
  return {
    view,
    async changed(runId) {
      await events.publish(runStream(runId), {
        type: 'run-updated',
        data: await view(runId),
        coalesceKey: 'run',
      });
    },
    async progress(runId, stepId, done, total) {
      await events.publish(runStream(runId), {
        type: 'step-progress',
        data: { step: stepId, done, total },
        coalesceKey: `progress:${stepId}`,
      });
    },
  };
}

/** Wakes a step that follows work another feature runs (an AI-column run, an extraction). */
export interface StreamWatch {
  /**
   * Resolves at the next event on the stream since the last call (at once when one came
   * meanwhile), or after `ms` at the latest — the poll is the fallback for changes that
   * publish nothing. Rejects when `signal` aborts.
   */
  next(ms: number, signal: AbortSignal): Promise<void>;
  close(): void;
}

/** Subscribes before the caller's first read, so no change between read and wait is missed. */
export async function watchStream(
  bus: Pick<EventBus, 'subscribe'>,
  stream: string,
  wait: (ms: number, signal: AbortSignal) => Promise<void>,
): Promise<StreamWatch> {
  const subscription = await bus.subscribe(stream, { bufferLimit: 16 });
  let wake: (() => void) | undefined;
  subscription.onReady(() => wake?.());
  return {
    async next(ms, signal) {
      signal.throwIfAborted();
      if (subscription.take().length > 0) return;
      const timer = new AbortController();
      const both = AbortSignal.any([signal, timer.signal]);
      try {
        await new Promise<void>((resolve, reject) => {
          wake = resolve;
          wait(ms, both).then(resolve, (error: unknown) =>
            signal.aborted ? reject(error) : resolve(),
          );
        });
      } finally {
        wake = undefined;
        timer.abort();
        subscription.take();
      }
    },
    close: () => subscription.close(),
  };
}
