import { type AppError, isAppError } from '../../../platform/app-error.ts';
import { type RunContext, RunStopped } from '../../../platform/jobs/durable-run.ts';
import { DuplicateIndex } from '../generation-dedupe.ts';
import type { GenerationRunInput } from '../generation-job.ts';
import { retryOutage, SETTLE_TRIES } from '../generation-outage.ts';
import { compileJsonSchema } from '../generation-output.ts';
import { followEngine } from '../generation-run-common.ts';
import { slidingWindow } from '../generation-scheduler.ts';
import { appendBatch } from './rows-run-batches.ts';
import { makeRow } from './rows-run-make-row.ts';
import { type ResumedRowsRun, type RowsGenerationDeps, RowsRunState } from './rows-run-state.ts';
import { columnsOf, failureSummary, type RowShape, rowSchema } from './rows-shape.ts';

/** How often the rows made so far are appended (one checkpointed step per batch). */
const APPEND_EVERY_MS = 100;

/**
 * One execution of a generate-rows run (the engine holds its lease). It makes what is left
 * (`total - done - errors`), every row its own call through the sliding window: `makeRow`
 * (rows-run-make-row.ts) asks up to ROW_ATTEMPTS times — an answer that does not fit the row's
 * schema, or a near-duplicate of a row already made (asked again to differ from it), is asked
 * again; a transport failure is not (the LLM router is the one retry loop), except rate
 * limiting, which the row waits out without spending an attempt. Made rows are appended every
 * 100 ms as a checkpointed step (`appendBatch`, rows-run-batches.ts); a row still not made is
 * counted in `errors` and listed in the run's result, never silently left out. `settle` tells
 * the engine how it ended.
 */
export class RowsRun {
  readonly #state: RowsRunState;

  constructor(
    deps: RowsGenerationDeps,
    run: ResumedRowsRun,
    context: RunContext<GenerationRunInput>,
  ) {
    this.#state = new RowsRunState(deps, run, context);
  }

  async execute(): Promise<void> {
    const state = this.#state;
    const { deps, run } = state;
    deps.active.set(run.id, {
      stop: (reason, error) => state.stop(reason, error),
      live: () => ({ inFlight: state.inFlight, cellsPerSecond: 0, etaSeconds: null }),
      reloadProcess: () => {},
    });
    // The engine holds the lease and reads the cancel/pause flags; its stop is ours.
    followEngine(state.context.signal, (reason) => state.stop(reason));
    let failure: unknown;
    // A failed append ends the run with its error, never as a cancel: a dataset this server
    // lost meanwhile is then told from a real failure by the hand-off around the run (the run
    // is left to its lease and finished by the new holder, dataset-run-handoff.ts).
    const appendFailed = (error: unknown) => {
      if (!(error instanceof RunStopped)) failure ??= error;
      state.stop('cancel', error as AppError);
    };
    const flushTimer = setInterval(
      () => void appendBatch(state).catch(appendFailed),
      APPEND_EVERY_MS,
    );
    flushTimer.unref();
    try {
      await this.#makeRows(await this.#shape());
      await appendBatch(state);
    } catch (error) {
      // A stop seen by the last batch's step is the stop itself, not a failure.
      if (!(error instanceof RunStopped)) failure ??= error;
    } finally {
      clearInterval(flushTimer);
      await state.appending.catch(() => {});
      deps.active.delete(run.id);
    }
    await this.#settle(failure);
  }

  /** The columns the run fills (as they are now), the schema of one answer, its validator. */
  async #shape(): Promise<RowShape> {
    const { deps, run, actor, scope } = this.#state;
    const { columns } = await deps.sheets.requireDataset(
      actor,
      run.project_id,
      run.dataset_id,
      'editor',
    );
    const chosen = columnsOf(columns, scope.columnIds);
    const schema = rowSchema(chosen);
    return { chosen, schema, validator: compileJsonSchema(schema, 'row') };
  }

  /** The rows left, each its own call, through the sliding window. */
  async #makeRows(shape: RowShape): Promise<void> {
    const state = this.#state;
    const seen = new DuplicateIndex();
    const first = state.run.done + state.run.errors;
    const last = Math.max(first, state.run.total);
    async function* indices() {
      for (let index = first; index < last; index++) yield index;
    }
    await slidingWindow({
      items: indices(),
      concurrency: () => state.deps.config.concurrency,
      signal: state.stopScheduling.signal,
      run: (index) => makeRow(state, index, shape, seen),
    });
  }

  /**
   * How it ended goes to the engine (returned: completed; thrown: failed or stopped); the run
   * use cases then bring the view in line (settleRun), and tell viewers. Completed: `done` rows
   * made; the rows that could not be made are `errors`, listed.
   */
  async #settle(failure: unknown): Promise<void> {
    const state = this.#state;
    const { store } = state.deps;
    const { run, stopReason } = state;
    // A dry pool here must not fail a finished run (issue #20).
    const updateRun = (changes: Parameters<typeof store.updateRun>[1]) =>
      retryOutage(() => store.updateRun(run.id, changes), {
        log: state.log,
        what: 'run',
        maxTries: SETTLE_TRIES,
      });
    await updateRun({ waiting: null });
    if (stopReason === 'lease-lost') throw new RunStopped('lease-lost');
    if (failure !== undefined) {
      if (!isAppError(failure)) state.log.error({ err: failure }, 'row generation failed');
      throw failure;
    }
    if (stopReason === 'cancel') throw new RunStopped('cancelled');
    if (stopReason === 'shutdown') throw new RunStopped('shutdown');
    if (stopReason === 'pause' || stopReason === 'budget') {
      await updateRun({
        error:
          stopReason === 'budget'
            ? {
                code: 'BUDGET_EXCEEDED',
                message: state.stopError?.message ?? 'A budget is exhausted',
              }
            : failureSummary(run.total, state.counts.errors, state.failures),
      });
      throw new RunStopped('paused', stopReason === 'budget' ? 'budget' : 'user');
    }
  }
}
