import { setTimeout as sleep } from 'node:timers/promises';
import { type AppError, isAppError } from '../../../platform/app-error.ts';
import type { CellValue } from '../../sheet-schema.ts';
import type { DuplicateIndex } from '../generation-dedupe.ts';
import { retryOutage } from '../generation-outage.ts';
import { rateLimitNotice, waitingNotice } from '../generation-rate-limit.ts';
import { inputTokensOf } from '../generation-run-common.ts';
import { publishRowsProgress } from './rows-run-batches.ts';
import type { RowsRunState } from './rows-run-state.ts';
import {
  isRowRetryable,
  LISTED_FAILURES,
  ROW_ATTEMPTS,
  type RowAnswer,
  type RowShape,
  rowMessages,
  signature,
} from './rows-shape.ts';

/** Step `makeRow`: one requested row, asked until it is made or its attempts are spent. */
export async function makeRow(
  state: RowsRunState,
  index: number,
  shape: RowShape,
  seen: DuplicateIndex,
): Promise<void> {
  state.inFlight++;
  const avoid: string[] = [];
  let reason = '';
  let duplicate = false;
  let attempts = 0;
  try {
    while (attempts < ROW_ATTEMPTS) {
      attempts++;
      let answer: RowAnswer;
      try {
        answer = await askRow(state, index, avoid, shape);
      } catch (error) {
        // Cancelled or paused: the row is not counted, so a resumed run makes it.
        if (state.abortCalls.signal.aborted) return;
        if (isAppError(error) && error.code === 'BUDGET_EXCEEDED') {
          state.stop('budget', error);
          return;
        }
        if (isAppError(error) && error.code === 'RATE_LIMITED') {
          attempts--; // the provider's limit, not the row: its attempts are untouched
          await waitOutRateLimit(state, error);
          if (state.stopped.aborted) return;
          continue;
        }
        if (!isAppError(error)) state.log.error({ err: error, index }, 'a generated row failed');
        reason = isAppError(error)
          ? `${error.code}: ${error.message}`
          : 'INTERNAL: generation failed';
        duplicate = false;
        if (isRowRetryable(error)) continue;
        break;
      }
      if (!answer.ok) {
        reason = answer.reason;
        duplicate = false;
        continue;
      }
      const match = seen.find(signature(answer.row));
      if (match) {
        // Asked again to differ from every row it resembled so far.
        reason = 'A near-duplicate of another generated row';
        duplicate = true;
        avoid.push(match.text);
        continue;
      }
      seen.add(String(index), signature(answer.row));
      const row = answer.row;
      state.pending.push(
        Object.fromEntries(
          shape.chosen.map((column) => [column.id, row[column.name] as CellValue]),
        ),
      );
      return;
    }
    if (state.stopReason !== undefined && state.stopReason !== 'budget') return;
    rowFailed(state, { row: index + 1, attempts, reason: reason.slice(0, 500) }, duplicate);
  } finally {
    state.inFlight--;
  }
}

/** A row not made: counted in `errors`, and listed (up to LISTED_FAILURES). */
function rowFailed(
  state: RowsRunState,
  failure: { row: number; attempts: number; reason: string },
  duplicate: boolean,
): void {
  state.counts.errors++;
  if (duplicate) state.counts.duplicates++;
  if (state.failures.length < LISTED_FAILURES) state.failures.push(failure);
  state.changed = true;
}

/** One call for row `index`; its answer checked against the chosen columns. */
async function askRow(
  state: RowsRunState,
  index: number,
  avoid: string[],
  shape: RowShape,
): Promise<RowAnswer> {
  const { run, scope, counts } = state;
  // A dry database pool (the call's budget reservation or usage row) is waited out and the row
  // asked again: never the row's failure (issue #20).
  const signal = state.abortCalls.signal;
  const generate = () =>
    state.deps.llm.generate({
      projectId: run.project_id,
      userId: run.created_by ?? undefined,
      feature: 'sheet-rows',
      entityIds: { datasetId: run.dataset_id, runId: run.id, row: String(index) },
      ...(scope.provider ? { provider: scope.provider } : {}),
      model: scope.model,
      messages: rowMessages(scope, shape.chosen, index, avoid),
      parameters: scope.parameters,
      outputSchema: shape.schema,
      signal,
      cache: 'off',
    });
  const result = await retryOutage(generate, { log: state.log, what: 'call', signal });
  counts.inputTokens += inputTokensOf(result) ?? 0;
  counts.outputTokens += result.usage.outputTokens ?? 0;
  counts.costNano += result.costNano ?? 0;
  state.changed = true;
  state.rateLimit.passed();
  const checked = shape.validator.safeParse(result.output);
  if (checked.success) return { ok: true, row: checked.data as Record<string, unknown> };
  const issue = checked.error.issues[0];
  return {
    ok: false,
    reason: `The answer does not fit the columns${issue ? ` (${[...issue.path].join('.') || 'row'}: ${issue.message})` : ''}`,
  };
}

/**
 * Rate limiting outlasting the router's retries: the row waits (its attempts untouched) until
 * the provider's Retry-After (generation-rate-limit.ts), and the run says so; the rows in
 * flight share the wait.
 */
async function waitOutRateLimit(state: RowsRunState, error: AppError): Promise<void> {
  const { store } = state.deps;
  const { run } = state;
  const notice = rateLimitNotice(error);
  const waitUntil = state.rateLimit.refused(notice);
  if (!state.announced || state.announced.until < new Date(waitUntil).toISOString()) {
    state.announced = waitingNotice(waitUntil, {
      provider: notice.provider,
      providerName: notice.providerName,
      said: notice.message === error.message ? undefined : notice.message,
    });
    await store.updateRun(run.id, { waiting: state.announced }).catch(() => {});
    publishRowsProgress(state);
  }
  const delay = state.rateLimit.remaining();
  if (delay > 0) await sleep(delay, undefined, { signal: state.stopped }).catch(() => {});
  state.rateLimit.waited();
  if (state.announced && state.rateLimit.remaining() === 0) {
    state.announced = undefined;
    await store.updateRun(run.id, { waiting: null }).catch(() => {});
  }
}
