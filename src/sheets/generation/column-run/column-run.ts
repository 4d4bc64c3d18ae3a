import { setTimeout as sleep } from 'node:timers/promises';
import type { AppError } from '../../../platform/app-error.ts';
import type { RunContext } from '../../../platform/jobs/durable-run.ts';
import type { SheetService } from '../../sheet-service.ts';
import { createCommitter } from '../generation-commit.ts';
import type { GenerationRunInput } from '../generation-job.ts';
import { isPassingOutage, outageDelayMs } from '../generation-outage.ts';
import {
  followEngine,
  HEARTBEAT_MS,
  type LiveProgress,
  type StopReason,
} from '../generation-run-common.ts';
import type { RunRow } from '../generation-store.ts';
import { heartbeat } from './column-run-heartbeat.ts';
import { countOutcome, saveCompletedRows } from './column-run-outcomes.ts';
import { generatePass, nextPass } from './column-run-pacing.ts';
import { planPass } from './column-run-plan.ts';
import { settleColumnRun } from './column-run-settle.ts';
import { ColumnRunState, type RunnerDeps } from './column-run-state.ts';

export type { RunnerDeps } from './column-run-state.ts';

/**
 * One execution of an AI-column run (the engine holds its lease). Its steps, each in a file
 * named for it:
 *   - `planPass` (column-run-plan.ts): read the process, recount a resumed run from its cells,
 *     count what is left and gather few-shot examples (and, for a column from nothing, the
 *     values so far);
 *   - `generatePass` (column-run-pacing.ts): the eligible cells, page by page, through the
 *     sliding window;
 *   - `generateCell` (column-run-cell.ts): mark it generating (a ticket), build its prompt and
 *     ask the model (column-run-ask.ts, once more for a near-duplicate), then commit the answer
 *     or an error — compare-and-set, so a person's edit meanwhile wins — or hand the cell back;
 *   - `countOutcome` (column-run-outcomes.ts): the committer's word on each cell, counted;
 *   - `nextPass` (column-run-pacing.ts): wait out a rate limit, or take up an edited process;
 *   - `settleColumnRun` (column-run-settle.ts): save the counters and tell the engine how it ended.
 * A heartbeat every second (column-run-heartbeat.ts) saves counters, publishes progress and
 * re-reads the process and the provider's cap; the engine's own heartbeat renews the lease and
 * reads cancel/pause. What the steps share is a ColumnRunState (column-run-state.ts).
 */
export class ColumnRun {
  readonly #state: ColumnRunState;
  #writer: Awaited<ReturnType<SheetService['openCellWriter']>> | undefined;

  constructor(deps: RunnerDeps, run: RunRow, context: RunContext<GenerationRunInput>) {
    const state = new ColumnRunState(deps, run, context);
    state.committer = createCommitter({
      write: async (writes) => {
        // Opened once: batches then cost DuckDB work only (metadata rechecked every 2 s).
        this.#writer ??= await deps.sheets.openCellWriter(
          state.actor,
          run.project_id,
          run.dataset_id,
          state.columnId,
        );
        return this.#writer(writes);
      },
      intervalMs: deps.config.commitMs,
      onOutcome: (outcome) => countOutcome(state, outcome),
      // The database's pool ran dry: the batch waits and is written again (issue #20).
      retryable: isPassingOutage,
      retryDelayMs: outageDelayMs,
      onRetry: (error, failures, retryInMs) =>
        state.log.warn(
          { err: error, what: 'cell writes', failures, retryInMs },
          'generation waits for the database',
        ),
    });
    this.#state = state;
  }

  /** Runs the passes, then settles; resolves (completed) or throws (failed, stopped). */
  async execute(): Promise<void> {
    const state = this.#state;
    const { active } = state.deps;
    active.set(state.run.id, {
      stop: (reason, error) => this.stop(reason, error),
      live: () => this.live(),
      reloadProcess: () => {
        state.reloadRequested = true;
        this.stop('restart');
      },
    });
    followEngine(state.context.signal, (reason) => this.stop(reason));
    let beating: Promise<void> = Promise.resolve();
    const beatTimer = setInterval(() => {
      beating = beating.then(() => heartbeat(state));
    }, HEARTBEAT_MS);
    beatTimer.unref();
    let failure: unknown;
    try {
      await this.#passes();
    } catch (error) {
      failure = error;
    } finally {
      clearInterval(beatTimer);
      await beating;
      state.committer.close();
      active.delete(state.run.id);
    }
    const reason = state.stopReason;
    await settleColumnRun(
      state,
      reason === 'restart' || reason === 'rate-limit' ? undefined : reason,
      failure,
    );
  }

  /** Pass after pass: a process edited mid-run finishes the calls in flight, then goes on with the new version. */
  async #passes(): Promise<void> {
    const state = this.#state;
    const countTokens = await state.deps.countTokens();
    let outages = 0;
    while (true) {
      state.reloadRequested = false;
      state.stopScheduling = new AbortController();
      let exhausted = false;
      try {
        const plan = await planPass(state, countTokens);
        ({ exhausted } = await generatePass(state, plan));
        outages = 0;
      } catch (error) {
        // A read of the pass (the process, the cells left) met a dry pool: the cells in flight
        // have finished (the window waits for them); a new pass after a wait takes up the rest.
        if (!isPassingOutage(error)) throw error;
        outages++;
        const retryInMs = outageDelayMs(outages);
        state.log.warn(
          { err: error, what: 'pass', failures: outages, retryInMs },
          'generation waits for the database',
        );
        await state.committer.drain();
        await saveCompletedRows(state);
        await sleep(retryInMs, undefined, { signal: state.abortWait.signal }).catch(() => {});
        if (!(await nextPass(state, false))) return;
        continue;
      }
      await state.committer.drain();
      await saveCompletedRows(state);
      if (!(await nextPass(state, exhausted))) return;
    }
  }

  /** First stop wins, except that a pass-only stop (restart, rate limit) gives way. */
  stop(reason: StopReason, error?: AppError): void {
    this.#state.stop(reason, error);
  }

  live(): LiveProgress {
    return this.#state.live();
  }
}
