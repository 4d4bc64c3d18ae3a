import type { Actor } from '../../access/actor.ts';
import { conflict } from '../../platform/app-error.ts';
import { isUniqueViolation } from '../sheet-store.ts';
import { releaseOrphanedCells } from './generation-orphans.ts';
import { presentRun } from './generation-presenter.ts';
import type { RunRow } from './generation-store.ts';
import type { RunCreation } from './run-create.ts';
import { publishRun, type RunUseCasesDeps } from './run-shared.ts';
import { stopRun } from './run-stop.ts';

type RunAction = 'cancel' | 'pause' | 'resume' | 'confirm';

/** Use cases on a run a person steers: cancel, pause, resume and confirm. */
export function runControlUseCases(deps: RunUseCasesDeps & Pick<RunCreation, 'queue'>) {
  const { store, sheets, audit, loaders, control } = deps;
  const publish = (run: RunRow) => publishRun(deps.events, run);
  const recordAction = (
    actor: Actor,
    run: RunRow,
    action: RunAction,
    summary?: Record<string, unknown>,
  ) =>
    audit.record(store.db, {
      actor,
      action: `generation-run.${action}`,
      entityType: 'generation_run',
      entityId: run.id,
      projectId: run.project_id,
      ...(summary ? { summary } : {}),
    });

  /** A paused, failed or unconfirmed run queued again (one run per column: else a conflict). */
  async function requeue(
    actor: Actor,
    run: RunRow,
    from: RunRow['status'][],
    changes: Partial<RunRow>,
    action: RunAction,
    summary?: Record<string, unknown>,
  ) {
    let result: RunRow | undefined;
    try {
      result = await store.transitionRun(run.id, from, { status: 'queued', ...changes });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('Another run is in progress on this column');
      throw error;
    }
    if (!result) throw conflict(`The run is ${run.status}`, { status: run.status });
    await recordAction(actor, run, action, summary);
    publish(result);
    await deps.queue(result);
    return presentRun(result);
  }

  return {
    /**
     * Cancels a run: calls in flight are aborted and their cells go back to their previous
     * state (a running run finishes that within a moment; the answer may still say running).
     */
    async cancelRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'editor');
      const stopped = await stopRun({ store, sheets, control }, runId);
      if (!stopped) throw conflict(`The run is already ${run.status}`, { status: run.status });
      if (stopped.ended) publish(stopped.run);
      await recordAction(actor, run, 'cancel');
      return presentRun(stopped.run, control.live(runId));
    },

    /** Pauses a run: no new calls; calls in flight are aborted and their cells restored. */
    async pauseRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'editor');
      if (run.status !== 'queued' && run.status !== 'running')
        throw conflict(`The run is ${run.status}`, { status: run.status });
      // The engine pauses a run nobody executes at once; an executing one stops at its next
      // heartbeat, on whichever server holds it (settleRun then marks it paused).
      const durable = run.durable_run_id ? await control.requestPause(runId) : 'paused';
      let result: RunRow | undefined = run;
      if (durable === 'paused') {
        result = await store.transitionRun(runId, ['queued', 'running'], {
          status: 'paused',
          pause_reason: 'user',
          waiting: null,
        });
        if (!result) throw conflict(`The run is ${run.status}`, { status: run.status });
        // Left running by a worker that died: its cells go back to what they were.
        if (run.status === 'running') await releaseOrphanedCells({ store, sheets }, run);
        publish(result);
      } else if (durable !== 'running')
        throw conflict(`The run is ${durable ?? run.status}`, { status: durable ?? run.status });
      await recordAction(actor, run, 'pause');
      return presentRun(result, control.live(runId));
    },

    /** Resumes a paused (or failed) run where it stopped; a budget pause resumes once the budget allows. */
    async resumeRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'editor');
      return requeue(
        actor,
        run,
        ['paused', 'failed'],
        { pause_reason: null, error: null, finished_at: null },
        'resume',
      );
    },

    /** Starts a run that waited for confirmation of its estimated cost. */
    async confirmRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loaders.loadRun(actor, projectId, datasetId, runId, 'editor');
      return requeue(actor, run, ['awaiting-confirmation'], {}, 'confirm', {
        estimate: run.estimate,
      });
    },
  };
}
