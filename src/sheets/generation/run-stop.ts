import type { SheetService } from '../sheet-service.ts';
import { releaseOrphanedCells } from './generation-orphans.ts';
import type { GenerationStore, RunRow } from './generation-store.ts';
import { isTerminal, type RunControl } from './run-shared.ts';

/**
 * Cancels a run. One nobody executes (awaiting confirmation, queued, paused, or left running
 * by a worker that died) ends at once and lets go of its cells (`ended`); an executing one is
 * asked to stop through its durable run, on whichever server holds it, and `settleRun` ends it
 * within a heartbeat. `error` is kept on the run (why it was stopped). Undefined: it had
 * already ended.
 */
export async function stopRun(
  deps: {
    store: GenerationStore;
    sheets: SheetService;
    control: Pick<RunControl, 'requestCancel'>;
  },
  runId: string,
  error?: { code: string; message: string },
): Promise<{ run: RunRow; ended: boolean } | undefined> {
  const view = await deps.store.findRun(runId);
  if (!view || isTerminal(view.status)) return undefined;
  const durable = view.durable_run_id ? await deps.control.requestCancel(runId) : undefined;
  if (durable === 'completed' || durable === 'failed') return undefined;
  if (durable === 'running') {
    const asked = error ? await deps.store.updateRun(runId, { error }) : view;
    return { run: asked ?? view, ended: false };
  }
  const ended = await deps.store.transitionRun(
    runId,
    ['awaiting-confirmation', 'queued', 'paused', 'running'],
    { status: 'cancelled', finished_at: new Date(), waiting: null, ...(error ? { error } : {}) },
  );
  if (!ended) return undefined;
  if (view.status === 'running') await releaseOrphanedCells(deps, view);
  await deps.store.deleteRunCells(runId);
  return { run: ended, ended: true };
}
