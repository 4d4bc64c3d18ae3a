import { isAppError } from '../../../platform/app-error.ts';
import { RunStopped } from '../../../platform/jobs/durable-run.ts';
import { retryOutage } from '../generation-outage.ts';
import type { StopReason } from '../generation-run-common.ts';
import type { ColumnRunState } from './column-run-state.ts';

/** Tries of each settling write through a dry pool (~40 s of waits at the longest). */
const SETTLE_TRIES = 25;

/**
 * Step `settle`: saves the last counters and what the view should say (a budget stop,
 * "Finished with N errors"), then tells the engine how the execution ended: it returns
 * (completed) or throws (failed, or a RunStopped); the engine settles the durable run and the
 * run use cases bring the view in line (settleRun).
 */
export async function settleColumnRun(
  state: ColumnRunState,
  stopReason: StopReason | undefined,
  failure: unknown,
): Promise<void> {
  const { store } = state.deps;
  const { run } = state;
  state.delta.activeMs += Date.now() - state.lastBeat;
  if (stopReason === 'lease-lost') {
    state.log.warn('lost the lease of a generation run; another server continues it');
    throw new RunStopped('lease-lost');
  }
  // A dry pool here must not lose the last counters or fail a finished run (issue #20).
  const patient = <T>(what: string, work: () => Promise<T>) =>
    retryOutage(work, { log: state.log, what, maxTries: SETTLE_TRIES });
  const saved = await patient('counters', () =>
    store.addCounters(run.id, state.deps.owner, state.delta),
  ).catch(() => undefined);
  const updateRun = (changes: Parameters<typeof store.updateRun>[1]) =>
    patient('run', () => store.updateRun(run.id, changes));
  await updateRun({ waiting: null });
  if (failure !== undefined) {
    if (!isAppError(failure)) state.log.error({ err: failure }, 'generation run failed');
    throw failure;
  }
  if (stopReason === 'cancel') throw new RunStopped('cancelled');
  if (stopReason === 'shutdown') throw new RunStopped('shutdown');
  if (stopReason === 'pause') {
    await updateRun({ error: null });
    throw new RunStopped('paused', 'user');
  }
  if (stopReason === 'budget') {
    await updateRun({
      error: {
        code: 'BUDGET_EXCEEDED',
        message: state.stopError?.message ?? 'A budget is exhausted',
      },
    });
    throw new RunStopped('paused', 'budget');
  }
  // Finished, but not all well: the run says so (not a green "Done") and what went wrong.
  const errors = saved?.errors ?? 0;
  const last = state.lastError;
  await updateRun({
    error:
      errors > 0
        ? {
            code: last?.code ?? 'PROVIDER_ERROR',
            message: `Finished with ${errors} ${errors === 1 ? 'error' : 'errors'}${
              last ? `; last: ${last.message}` : ''
            }`.slice(0, 2_000),
            details: { errors },
          }
        : null,
  });
  state.log.info('generation run finished');
}
