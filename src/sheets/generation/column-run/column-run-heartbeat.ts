import { datasetStream } from '../../sheet-service.ts';
import { emptyCounters } from '../generation-run-common.ts';
import type { RunCounters } from '../generation-store.ts';
import type { ColumnRunState } from './column-run-state.ts';

const PROGRESS_EVENT_MS = 500;

/**
 * Every second: saves the counters (only while this process holds the lease), takes up a
 * process edit or deletion, re-reads the provider's cap, publishes progress. The engine's
 * own heartbeat renews the lease and reads the cancel/pause flags.
 */
export async function heartbeat(state: ColumnRunState): Promise<void> {
  const { store } = state.deps;
  const now = Date.now();
  state.delta.activeMs += now - state.lastBeat;
  state.lastBeat = now;
  const sent = state.delta;
  state.delta = emptyCounters();
  try {
    const row = await store.addCounters(state.run.id, state.deps.owner, sent);
    if (!row) {
      state.stop('lease-lost');
      return;
    }
    state.context.count({ done: sent.done, errors: sent.errors, conflicts: sent.conflicts });
  } catch (error) {
    // Counters come back next beat; a database hiccup must not kill the run.
    for (const key of Object.keys(sent) as (keyof RunCounters)[]) state.delta[key] += sent[key];
    state.log.warn({ err: error }, 'generation heartbeat failed');
    return;
  }
  try {
    const process = await store.findProcessByColumn(state.columnId);
    if (!process) state.stop('cancel');
    else if (process.version !== state.processVersion) state.reloadRequested = true;
  } catch {
    // next beat
  }
  if (state.reloadRequested) state.stop('restart');
  await state.readConcurrency();
  publishProgress(state);
}

/** The run's figures on the dataset stream, at most every half second unless forced. */
export function publishProgress(state: ColumnRunState, status = 'running', force = false): void {
  const now = Date.now();
  if (!force && now - state.lastProgress < PROGRESS_EVENT_MS) return;
  state.lastProgress = now;
  const { totals, run } = state;
  state.deps.events.publish(datasetStream(run.dataset_id), {
    type: 'run-progress',
    data: {
      runId: run.id,
      columnId: state.columnId,
      status,
      total: state.total,
      done: totals.done,
      errors: totals.errors,
      conflicts: totals.conflicts,
      cacheHits: totals.cacheHits,
      inputTokens: totals.inputTokens,
      outputTokens: totals.outputTokens,
      costNano: totals.costNano,
      waiting: state.waiting ?? null,
      ...state.live(),
    },
    coalesceKey: `run:${run.id}`,
  });
}
