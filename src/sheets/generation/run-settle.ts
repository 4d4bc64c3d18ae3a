import type { ExecuteOutcome, RunRecord } from '../../platform/jobs/durable-run.ts';
import { releaseOrphanedCells } from './generation-orphans.ts';
import { retryOutage } from './generation-outage.ts';
import type { RunScope } from './generation-scope.ts';
import type { RunRow } from './generation-store.ts';
import type { RunCreation } from './run-create.ts';
import { publishRun, type RunUseCasesDeps } from './run-shared.ts';

/**
 * Use case `settleRun`: the engine settled a run (the job calls this); its view follows —
 * status, pause reason, the engine's error for a failed run — and viewers are told. Cells a
 * dead worker left `generating` are released first; a completed run asked for its downstream
 * columns starts them.
 */
export function settleRunUseCase(
  deps: Pick<RunUseCasesDeps, 'store' | 'sheets' | 'events' | 'logger'> &
    Pick<RunCreation, 'startDownstream'>,
) {
  const { store, sheets } = deps;

  /** The view's new state for how the engine settled the run (undefined: nothing to do). */
  async function follow(view: RunRow, record: RunRecord, outcome: ExecuteOutcome) {
    const orphaned = view.status === 'running';
    const ended = { waiting: null, finished_at: new Date() };
    switch (outcome) {
      case 'completed': {
        const row = await store.updateRun(view.id, { status: 'completed', ...ended });
        await store.deleteRunCells(view.id);
        return row;
      }
      case 'failed':
        return store.updateRun(view.id, {
          status: 'failed',
          ...ended,
          error: record.error ?? { code: 'INTERNAL', message: 'The run failed' },
        });
      case 'cancelled': {
        if (orphaned) await releaseOrphanedCells({ store, sheets }, view);
        const row = await store.updateRun(view.id, { status: 'cancelled', ...ended });
        await store.deleteRunCells(view.id);
        return row;
      }
      case 'paused':
        if (orphaned) await releaseOrphanedCells({ store, sheets }, view);
        return store.updateRun(view.id, {
          status: 'paused',
          waiting: null,
          pause_reason: record.pauseReason === 'budget' ? 'budget' : 'user',
        });
      case 'requeued':
        return store.updateRun(view.id, { status: 'queued', waiting: null });
      default:
        return undefined;
    }
  }

  return async function settleRun(record: RunRecord, outcome: ExecuteOutcome) {
    // A dry pool must not leave the view `running` after the engine settled (issue #20); the
    // steps are idempotent, so a try that failed half-way is simply run again.
    const ended = await retryOutage(
      async () => {
        const view = await store.findRun(record.id);
        return view ? follow(view, record, outcome) : undefined;
      },
      { log: deps.logger, what: 'settle', maxTries: 25 },
    );
    if (!ended) return;
    publishRun(deps.events, ended);
    if (outcome === 'completed' && (ended.scope as RunScope).includeDownstream)
      await deps.startDownstream(ended).catch((error: unknown) => {
        deps.logger.warn({ err: error, runId: ended.id }, 'could not start the downstream runs');
      });
  };
}
