import { setTimeout as sleep } from 'node:timers/promises';
import { referencedColumnIds } from '../../column-refs.ts';
import { imageInputs } from '../../images/image-vision.ts';
import { waitingNotice } from '../generation-rate-limit.ts';
import { slidingWindow } from '../generation-scheduler.ts';
import { isEligible, type ScannedRow, scanRows } from '../generation-scope.ts';
import { generateCell } from './column-run-cell.ts';
import { publishProgress } from './column-run-heartbeat.ts';
import { prepareAhead } from './column-run-prepare-ahead.ts';
import type { ColumnRunState, PassPlan } from './column-run-state.ts';

/**
 * The eligible cells of the run's scope, page by page (read as the window asks for more). A
 * vision column's images are prepared ahead of the cells handed out (prepareAhead), so a call
 * finds its image read and encoded while the calls in flight waited on the model.
 */
async function* claimCells(state: ColumnRunState, plan: PassPlan): AsyncGenerator<ScannedRow> {
  const { preparedImages } = state.deps;
  const { template, output } = plan.snapshot;
  const pages = scanRows({
    sheets: state.deps.sheets,
    projectId: state.run.project_id,
    datasetId: state.run.dataset_id,
    columnId: state.columnId,
    inputs: plan.snapshot.inputs,
    scope: state.scope,
  });
  // Eligibility is read as each cell is handed out: cells finish meanwhile.
  const eligible = (row: ScannedRow) => isEligible(row, plan.eligibility);
  if (!preparedImages || output.type === 'image') {
    for await (const page of pages) for (const row of page) if (eligible(row)) yield row;
    return;
  }
  // Only an object value can be an image reference: a page of text inputs (the usual column)
  // skips the per-row image lookup altogether.
  const referenced = referencedColumnIds(template);
  const mayHoldImages = (row: ScannedRow) =>
    referenced.some((id) => {
      const value = row.values[id];
      return value !== null && typeof value === 'object';
    });
  yield* prepareAhead({
    pages,
    imagesOf: (row) => (mayHoldImages(row) ? imageInputs(template, row.values) : []),
    eligible,
    window: () => state.concurrency().window,
    prepare: (images) => preparedImages.prepare(state.run.project_id, images),
  });
}

/** One pass: the eligible cells through the sliding window, as wide as the provider allows (and half again: `cellsInFlight`). */
export async function generatePass(state: ColumnRunState, plan: PassPlan) {
  await state.readConcurrency();
  const schedule = state.deps.scheduler ?? slidingWindow;
  return schedule({
    items: claimCells(state, plan),
    concurrency: () => state.cellsInFlight(),
    run: (row: ScannedRow) => generateCell(state, row, plan),
    signal: state.stopScheduling.signal,
  });
}

/**
 * After a pass: wait out a rate limit (an edit of the process meanwhile does not cut the
 * wait short) or take up an edited process; true when another pass follows.
 */
export async function nextPass(state: ColumnRunState, exhausted: boolean): Promise<boolean> {
  if (
    state.stopReason === 'rate-limit' ||
    (state.stopReason === 'restart' && state.rateLimit.remaining() > 0)
  ) {
    state.stopReason = undefined;
    await waitOutRateLimit(state);
    if (state.stopReason === 'restart') state.stopReason = undefined;
    return state.stopReason === undefined;
  }
  if (state.stopReason === 'restart') {
    state.stopReason = undefined;
    return true;
  }
  // The window stopped short without a stop asked for: go on with what is left.
  return !exhausted && state.stopReason === undefined;
}

/**
 * Waits until the provider's Retry-After has passed (generation-rate-limit.ts), saying so on
 * the run, then lets the loop start a new pass: the cells handed back are eligible again and
 * those finished are skipped. Cancel, pause, a budget stop or shutdown end the wait at once.
 * The run stays `running` and keeps its lease throughout, so a crash while waiting is
 * recovered like any running run.
 */
async function waitOutRateLimit(state: ColumnRunState): Promise<void> {
  const { store } = state.deps;
  const by = state.rateLimit.last;
  const provider = state.providerConcurrency;
  const name = provider?.providerRef === by?.provider ? provider?.providerName : undefined;
  state.waiting = waitingNotice(state.rateLimit.until, {
    provider: by?.provider ?? null,
    providerName: name ?? null,
    said: by?.message,
  });
  state.log.info({ until: state.waiting.until }, 'generation run rate limited; waiting');
  await store.updateRun(state.run.id, { waiting: state.waiting }).catch(() => {});
  publishProgress(state, 'running', true);
  const delay = state.rateLimit.remaining();
  if (delay > 0) await sleep(delay, undefined, { signal: state.abortWait.signal }).catch(() => {});
  state.rateLimit.waited();
  state.waiting = undefined;
  await store.updateRun(state.run.id, { waiting: null }).catch(() => {});
  publishProgress(state, 'running', true);
}
