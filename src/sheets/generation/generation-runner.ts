import type { RunContext } from '../../platform/jobs/durable-run.ts';
import { ColumnRun, type RunnerDeps } from './column-run/column-run.ts';
import { beginExecution } from './generation-execution.ts';
import type { GenerationRunInput } from './generation-job.ts';
import type { LiveProgress, StopReason } from './generation-run-common.ts';

export type { RunnerDeps } from './column-run/column-run.ts';
export * from './generation-run-common.ts';

/**
 * Executes AI-column runs (the `sheets.generate-column` kind of durable run): the engine holds
 * the lease; each execution is a ColumnRun (column-run/column-run.ts) — plan a pass, claim the
 * eligible cells, generate each, commit with compare-and-set, settle. Runs executing here are
 * in `deps.active`, for their live figures and process edits.
 */
export function createRunner(deps: RunnerDeps) {
  const { store, sheets, active } = deps;

  /** The kind's `execute` (beginExecution releases what a dead worker left). */
  async function execute(context: RunContext<GenerationRunInput>): Promise<void> {
    const run = await beginExecution({ store, sheets }, context, 'column');
    await new ColumnRun(deps, run, context).execute();
  }

  return {
    /** The `sheets.generate-column` kind's execute (generation-job.ts). */
    execute,
    /** Stops a run executing in this process; false when it is not here. */
    stop(runId: string, reason: StopReason): boolean {
      const run = active.get(runId);
      if (!run) return false;
      run.stop(reason);
      return true;
    },
    live(runId: string): LiveProgress | undefined {
      return active.get(runId)?.live();
    },
    /** The column's process changed: runs of it go on with the new version. */
    processChanged(runIds: readonly string[]): void {
      for (const id of runIds) active.get(id)?.reloadProcess();
    },
  };
}

export type Runner = ReturnType<typeof createRunner>;
