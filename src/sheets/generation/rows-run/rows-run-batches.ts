import type { RunContext } from '../../../platform/jobs/durable-run.ts';
import { datasetStream } from '../../sheet-service.ts';
import { beginExecution } from '../generation-execution.ts';
import type { GenerationRunInput } from '../generation-job.ts';
import { retryOutage } from '../generation-outage.ts';
import type { ResumedRowsRun, RowsGenerationDeps, RowsRunState } from './rows-run-state.ts';
import { type BatchCounts, failureSummary } from './rows-shape.ts';

/**
 * The run as its last finished batch left it (each batch's step output is the run's counts
 * after it, so a resumed run never makes that batch's rows again), marked running.
 */
export async function resumeRowsRun(
  deps: RowsGenerationDeps,
  context: RunContext<GenerationRunInput>,
): Promise<ResumedRowsRun> {
  let batches = 0;
  const run = await beginExecution(deps, context, 'rows', async (found) => {
    const completed = (await deps.steps(found.id)).filter(
      (step) => step.key.startsWith('batch-') && step.status === 'completed',
    );
    batches = completed.length;
    const last = completed.at(-1)?.output as BatchCounts | undefined;
    return last
      ? {
          done: last.done,
          errors: last.errors,
          duplicates: last.duplicates,
          input_tokens: last.inputTokens,
          output_tokens: last.outputTokens,
          cost_nano: last.costNano,
          error: last.error,
        }
      : {};
  });
  return { ...run, batches };
}

/**
 * Step `appendBatch`: the rows made since the last batch, with the run's counts, as one
 * checkpointed step (`batch-N`): the counts move with the rows, so a resumed run never makes
 * too many. A batch interrupted mid-way (a crash between its rows and its checkpoint) is the
 * one thing redone: steps are at-least-once (docs/decisions/2026-12-06-durable-run-engine.md).
 */
export function appendBatch(state: RowsRunState): Promise<void> {
  if (state.pending.length === 0 && !state.changed) return state.appending;
  const rows = state.pending;
  state.pending = [];
  state.changed = false;
  const { store, sheets } = state.deps;
  const { run, counts } = state;
  // A dry database pool is waited out (issue #20): the rows made are appended, never lost with
  // a failed run. The append retries only an outage met before its one DuckDB statement (the
  // access check, the dataset's metadata): nothing after it touches PostgreSQL, so no row is
  // appended twice.
  const patiently = <T>(what: string, work: () => Promise<T>) =>
    retryOutage(work, { log: state.log, what });
  state.appending = state.appending.then(async () => {
    await state.context.step(`batch-${++state.batch}`, async (): Promise<BatchCounts> => {
      if (rows.length > 0) {
        await patiently('rows', () =>
          sheets.appendRows(state.actor, run.project_id, run.dataset_id, rows),
        );
        counts.done += rows.length;
      }
      const saved: BatchCounts = {
        ...counts,
        error: failureSummary(run.total, counts.errors, state.failures),
      };
      await patiently('run', () =>
        store.updateRun(run.id, {
          done: saved.done,
          errors: saved.errors,
          duplicates: saved.duplicates,
          input_tokens: saved.inputTokens,
          output_tokens: saved.outputTokens,
          cost_nano: saved.costNano,
          error: saved.error,
        }),
      );
      return saved;
    });
    publishRowsProgress(state);
  });
  return state.appending;
}

/** The run's figures on the dataset stream. */
export function publishRowsProgress(state: RowsRunState): void {
  const { run, counts } = state;
  state.deps.events.publish(datasetStream(run.dataset_id), {
    type: 'run-progress',
    data: {
      runId: run.id,
      status: 'running',
      total: run.total,
      done: counts.done,
      errors: counts.errors,
      duplicates: counts.duplicates,
      waiting: state.announced ?? null,
    },
    coalesceKey: `run:${run.id}`,
  });
}
