import type { CommitOutcome } from '../generation-commit.ts';
import type { ColumnRunState } from './column-run-state.ts';

/**
 * Step `commit`'s answer: the committer's word on a cell (written, error written, or lost to
 * a person's edit), counted on the run, and the finished rows recorded once per batch.
 */
export function countOutcome(state: ColumnRunState, outcome: CommitOutcome): void {
  const { delta, totals } = state;
  switch (outcome.kind) {
    case 'applied':
      if (outcome.state.status === 'error') {
        delta.errors++;
        totals.errors++;
      } else {
        delta.done++;
        totals.done++;
        state.rateLimit.passed();
      }
      state.deps.onCommitLatency?.(Date.now() - outcome.enqueuedAt);
      finished(state, outcome.rowId);
      break;
    case 'mark-lost':
    case 'conflict':
      // A lost mark and its dropped result are one conflict.
      if (!state.lostCounted.has(outcome.rowId)) {
        state.lostCounted.add(outcome.rowId);
        delta.conflicts++;
        totals.conflicts++;
        finished(state, outcome.rowId);
      }
      break;
    default:
      break;
  }
  // One insert per committed batch (its outcomes arrive together), not per cell.
  if (!state.saveScheduled) {
    state.saveScheduled = true;
    setImmediate(() => {
      state.saveScheduled = false;
      void saveCompletedRows(state);
    });
  }
}

function finished(state: ColumnRunState, rowId: string): void {
  state.processedTimes.push(Date.now());
  state.completedRows.push(rowId);
}

/**
 * Records the rows finished since the last save: what a resumed run skips. One insert at a
 * time: rows finished while one is being written wait for it and go together in the next
 * (under load, fewer and larger statements instead of one per committed batch).
 */
export function saveCompletedRows(state: ColumnRunState): Promise<void> {
  if (state.completedRows.length === 0 || state.saveQueued) return state.savingCells;
  state.saveQueued = true;
  state.savingCells = state.savingCells.then(async () => {
    state.saveQueued = false;
    const rows = state.completedRows.splice(0);
    if (rows.length === 0) return;
    await state.deps.store.addRunCells(state.run.id, rows).catch((error: unknown) => {
      // Recorded with the next save (a dry pool passes); a crash first only redoes them.
      state.completedRows.unshift(...rows);
      state.log.warn({ err: error }, 'could not record finished cells of a run');
    });
  });
  return state.savingCells;
}
