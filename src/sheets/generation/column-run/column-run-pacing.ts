import { setTimeout as sleep } from 'node:timers/promises';
import { referencedColumnIds } from '../../column-refs.ts';
import { imageInputs } from '../../images/image-vision.ts';
import { waitingNotice } from '../generation-rate-limit.ts';
import { slidingWindow } from '../generation-scheduler.ts';
import { isEligible, type ScannedRow, scanRows } from '../generation-scope.ts';
import { generateCell } from './column-run-cell.ts';
import { publishProgress } from './column-run-heartbeat.ts';
import type { ColumnRunState, PassPlan } from './column-run-state.ts';

/** Image bytes prepared ahead of the cells handed out, at most (with the rows bound below). */
const PREPARE_AHEAD_BYTES = 48 * 1024 * 1024;

/**
 * The eligible cells of the run's scope, page by page (read as the window asks for more). A
 * vision column's images are prepared ahead of the cells handed out: once fewer than two windows
 * of rows are prepared ahead, the next rows up to four windows (and PREPARE_AHEAD_BYTES of
 * images) go in one batch, one lookup for all of them. So a call finds its image read and
 * encoded while the calls in flight waited on the model.
 */
async function* claimCells(state: ColumnRunState, plan: PassPlan): AsyncGenerator<ScannedRow> {
  const { preparedImages } = state.deps;
  const { template, output } = plan.snapshot;
  // Only an object value can be an image reference: a page of text inputs (the usual column)
  // skips the per-row image lookup altogether.
  const referenced = referencedColumnIds(template);
  const mayHoldImages = (row: ScannedRow) =>
    referenced.some((id) => {
      const value = row.values[id];
      return value !== null && typeof value === 'object';
    });
  for await (const page of scanRows({
    sheets: state.deps.sheets,
    projectId: state.run.project_id,
    datasetId: state.run.dataset_id,
    columnId: state.columnId,
    inputs: plan.snapshot.inputs,
    scope: state.scope,
  })) {
    // Eligibility is read as each cell is handed out: cells finish meanwhile.
    const images =
      preparedImages && output.type !== 'image' && page.some(mayHoldImages)
        ? page.map((row) => imageInputs(template, row.values))
        : [];
    if (!preparedImages || !images.some((refs) => refs.length > 0)) {
      for (const row of page) if (isEligible(row, plan.eligibility)) yield row;
      continue;
    }
    const bytesOf = (index: number) =>
      isEligible(page[index]!, plan.eligibility)
        ? images[index]!.reduce((sum, image) => sum + image.bytes, 0)
        : 0;
    const counted: number[] = [];
    let preparedTo = 0;
    let bytesAhead = 0;
    for (const [index, row] of page.entries()) {
      const window = Math.max(16, state.concurrency().window);
      if (preparedTo - index < 2 * window) {
        const batch = [];
        while (
          preparedTo < page.length &&
          preparedTo - index < 4 * window &&
          bytesAhead < PREPARE_AHEAD_BYTES
        ) {
          const bytes = bytesOf(preparedTo);
          if (bytes > 0) batch.push(...images[preparedTo]!);
          counted[preparedTo] = bytes;
          bytesAhead += bytes;
          preparedTo++;
        }
        preparedImages.prepare(state.run.project_id, batch);
      }
      if (index < preparedTo) bytesAhead -= counted[index]!;
      if (isEligible(row, plan.eligibility)) yield row;
    }
  }
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
