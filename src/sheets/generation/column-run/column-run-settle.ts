import { isAppError } from '../../../platform/app-error.ts';
import { RunStopped } from '../../../platform/jobs/durable-run.ts';
import type { StopReason } from '../generation-run-common.ts';
import type { ColumnRunState } from './column-run-state.ts';

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
  const saved = await store
    .addCounters(run.id, state.deps.owner, state.delta)
    .catch(() => undefined);
  await store.updateRun(run.id, { waiting: null });
  if (failure !== undefined) {
    if (!isAppError(failure)) state.log.error({ err: failure }, 'generation run failed');
    throw failure;
  }
  if (stopReason === 'cancel') throw new RunStopped('cancelled');
  if (stopReason === 'shutdown') throw new RunStopped('shutdown');
  if (stopReason === 'pause') {
    await store.updateRun(run.id, { error: null });
    throw new RunStopped('paused', 'user');
  }
  if (stopReason === 'budget') {
    await store.updateRun(run.id, {
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
  await store.updateRun(run.id, {
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
