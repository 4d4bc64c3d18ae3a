import { isAppError } from '../../../platform/app-error.ts';
import type { CellValue } from '../../sheet-schema.ts';
import type { CellTicket } from '../generation-commit.ts';
import { retryOutage } from '../generation-outage.ts';
import type { ProcessSnapshot } from '../generation-process.ts';
import { rateLimitNotice } from '../generation-rate-limit.ts';
import { cellError, inputTokensOf, previousChange } from '../generation-run-common.ts';
import type { ScannedRow } from '../generation-scope.ts';
import { inputHashOf } from '../prompt-template.ts';
import { askModel, buildPrompt } from './column-run-ask.ts';
import { askImageModel } from './column-run-image.ts';
import type { ColumnRunState, PassPlan } from './column-run-state.ts';

type Answer = Awaited<ReturnType<typeof askModel>> | Awaited<ReturnType<typeof askImageModel>>;
type Sources = Awaited<ReturnType<typeof buildPrompt>>['sources'];

/**
 * Step `generateCell`: the cell is marked generating (a ticket), its prompt built, the model
 * asked, and the answer committed — compare-and-set, so a person's edit meanwhile wins.
 */
export async function generateCell(
  state: ColumnRunState,
  row: ScannedRow,
  plan: PassPlan,
): Promise<void> {
  const current = plan.snapshot;
  state.inFlight++;
  const ticket: CellTicket = state.committer.begin(
    BigInt(row.rowId),
    row.cell.version,
    { state: { status: 'generating', error: null } },
    // Marked stale (or restored) by the system since it was read: still ours to fill.
    // A person's edit changes the value or validates the cell, and wins.
    (now) =>
      !now.state.validated &&
      now.state.status !== 'generating' &&
      JSON.stringify(now.value) === JSON.stringify(row.cell.value),
  );
  const cellAbort = new AbortController();
  const signal = AbortSignal.any([state.abortCalls.signal, cellAbort.signal]);
  ticket.onLost(() => cellAbort.abort('lost'));
  const inputHash = inputHashOf(current.inputs, row.values);
  try {
    // A dry database pool (the call's usage row, a search cache read) is waited out and the
    // cell asked again: never the cell's error (issue #20).
    const { answer, sources } = await retryOutage(
      async (): Promise<{ answer: Answer; sources: Sources }> => {
        if (current.output.type === 'image')
          return { answer: await askImageModel(state, row, plan, signal), sources: undefined };
        const built = await buildPrompt(state, row, plan, signal);
        const asked = await askModel(
          state,
          row,
          plan,
          built.prompt,
          signal,
          built.searchNote ?? null,
        );
        return { answer: asked, sources: built.sources };
      },
      { log: state.log, what: 'call', signal },
    );
    const provenance = {
      validated: false,
      inputHash,
      promptHash: current.promptHash,
      model: answer.result.model,
      inputTokens: inputTokensOf(answer.result),
      outputTokens: answer.result.usage.outputTokens ?? null,
      costNanoUsd: answer.result.costNano,
      latencyMs: answer.result.latencyMs,
      attempts: answer.attempts,
      sources: sources ? JSON.stringify(sources) : null,
    };
    const parsed = answer.parsed;
    // Made with a prompt that changed meanwhile: kept, and shown as stale.
    const fresh = current.promptHash === state.snapshot!.promptHash;
    state.committer.finish(
      ticket,
      parsed.ok
        ? {
            value: parsed.value as CellValue,
            state: {
              ...provenance,
              status: fresh ? 'done' : 'stale',
              error: answer.note,
              raw: null,
            },
          }
        : { state: { ...provenance, status: 'error', error: parsed.error, raw: parsed.raw } },
    );
    if (!parsed.ok) state.lastError = { code: 'PROVIDER_ERROR', message: parsed.error };
  } catch (error) {
    callFailed(state, { ticket, row, signal, inputHash, current }, error);
  } finally {
    state.inFlight--;
  }
}

/**
 * A call failed. Stopped: the cell goes back as it was. A budget ran out: back too, and the
 * run pauses. Still rate limited after the router's retries: not the cell's fault — back as it
 * was (no attempt spent), and the run waits, then carries on with it, so a storm never turns
 * into failed cells. Anything else is the cell's error (data: status, message, raw text).
 */
function callFailed(
  state: ColumnRunState,
  cell: {
    ticket: CellTicket;
    row: ScannedRow;
    signal: AbortSignal;
    inputHash: string;
    current: ProcessSnapshot;
  },
  error: unknown,
): void {
  const { ticket, row, current } = cell;
  if (cell.signal.aborted) {
    state.committer.restore(ticket, previousChange(row));
    return;
  }
  if (isAppError(error) && error.code === 'BUDGET_EXCEEDED') {
    state.committer.restore(ticket, previousChange(row));
    state.stop('budget', error);
    return;
  }
  if (isAppError(error) && error.code === 'RATE_LIMITED') {
    state.committer.restore(ticket, previousChange(row));
    state.rateLimit.refused(rateLimitNotice(error));
    state.stop('rate-limit');
    return;
  }
  const raw = (error as { rawText?: string }).rawText;
  const details = isAppError(error) ? error.details : undefined;
  if (!isAppError(error))
    state.log.error({ err: error, rowId: row.rowId }, 'cell generation failed');
  const message = cellError(error);
  state.lastError = { code: isAppError(error) ? error.code : 'INTERNAL', message };
  state.committer.finish(ticket, {
    state: {
      status: 'error',
      error: message,
      raw: raw ? raw.slice(0, 100_000) : null,
      validated: false,
      inputHash: cell.inputHash,
      promptHash: current.promptHash,
      model: current.model,
      attempts: typeof details?.attempts === 'number' ? details.attempts : null,
      // No answer: no tokens, cost or sources of an earlier call left on the cell.
      inputTokens: null,
      outputTokens: null,
      costNanoUsd: null,
      latencyMs: null,
      sources: null,
    },
  });
}
