import { AppError } from '../../../platform/app-error.ts';
import { type Example, FewShotPool } from '../few-shot.ts';
import { ExampleCandidates } from '../few-shot-candidates.ts';
import { DuplicateIndex } from '../generation-dedupe.ts';
import { outputSchemaFor } from '../generation-output.ts';
import { type ProcessSnapshot, requireInputs, snapshotOf } from '../generation-process.ts';
import { type EligibilityContext, isEligible, scanRows } from '../generation-scope.ts';
import { publishProgress } from './column-run-heartbeat.ts';
import type { ColumnRunState, PassPlan } from './column-run-state.ts';

/** Finished cells read per query when a resumed run recounts them. */
const RECOUNT_CHUNK = 1_000;

/**
 * Step `plan` of a pass: reads the process (a pass follows the version current when it
 * starts), recounts a resumed run from its cells, counts what is left and gathers the few-shot
 * pool (and, for a column from nothing, the values so far, so a new one is not a near-duplicate
 * of them).
 */
export async function planPass(
  state: ColumnRunState,
  countTokens: (text: string) => number,
): Promise<PassPlan> {
  const { store } = state.deps;
  const { run, scope } = state;
  const snapshot = await loadProcess(state);
  const completed = await store.listRunCells(run.id);
  for (const rowId of state.completedRows) completed.add(rowId);
  if (state.firstPass && (completed.size > 0 || state.processed() > 0))
    await recount(state, completed);
  const eligibility: EligibilityContext = {
    scope,
    promptHash: snapshot.promptHash,
    inputs: snapshot.inputs,
    completed,
    rowIdSet: scope.rowIds ? new Set(scope.rowIds) : undefined,
  };
  // A fresh run of a column with no validated cell skips the count: its creation just
  // counted the same cells.
  const estimate = (run.estimate ?? {}) as { examplesAvailable?: number };
  const fresh =
    state.firstPass &&
    state.processed() === 0 &&
    run.process_version === snapshot.version &&
    scope.mode !== 'cells' &&
    estimate.examplesAvailable === 0 &&
    !snapshot.diversity;
  state.firstPass = false;
  const duplicates = snapshot.diversity ? new DuplicateIndex() : undefined;
  const surveyed = fresh
    ? { remaining: run.total, examples: [] }
    : await survey(state, snapshot, eligibility, duplicates);
  const pool = new FewShotPool(surveyed.examples, countTokens);
  state.total = state.processed() + surveyed.remaining;
  if (!fresh)
    await store.updateRun(run.id, { total: state.total, process_version: snapshot.version });
  publishProgress(state, 'running', true);
  return {
    snapshot,
    eligibility,
    pool,
    duplicates,
    outputSchema: outputSchemaFor(snapshot.output),
    cache: scope.fresh ? 'bypass' : 'use',
  };
}

/** The column's process as it is now (gone: the run ends), its inputs checked. */
async function loadProcess(state: ColumnRunState): Promise<ProcessSnapshot> {
  const { store, sheets } = state.deps;
  const process = await store.findProcessByColumn(state.columnId);
  if (!process) throw new AppError('NOT_FOUND', 'The AI column no longer exists');
  const dataset = await sheets.requireDataset(
    state.actor,
    state.run.project_id,
    state.run.dataset_id,
    'editor',
  );
  const snapshot = snapshotOf(process, dataset.columns);
  requireInputs(snapshot, dataset.columns);
  state.processVersion = process.version;
  state.snapshot = snapshot;
  return snapshot;
}

/**
 * A resumed run. Its finished cells are recorded with each commit, its counters only with
 * each heartbeat: after a crash they miss the cells finished since the last beat, or count
 * cells whose finish was not recorded (those are redone). The cells are the truth: in error →
 * errors; validated (a person's edit or thumbs-up won over the run's answer) → conflicts; any
 * other (or a row deleted since) → done. Tokens and cost are the finished cells' provenance.
 */
async function recount(state: ColumnRunState, completed: ReadonlySet<string>): Promise<void> {
  const { sheets, store } = state.deps;
  const counts = { done: 0, errors: 0, conflicts: 0, inputTokens: 0, outputTokens: 0, costNano: 0 };
  const ids = [...completed];
  for (let index = 0; index < ids.length; index += RECOUNT_CHUNK) {
    const chunk = ids.slice(index, index + RECOUNT_CHUNK).map((id) => BigInt(id));
    const cells = await sheets.readCells(
      state.actor,
      state.run.project_id,
      state.run.dataset_id,
      [state.columnId],
      chunk,
    );
    for (const rowId of chunk) {
      const cell = cells.get(rowId.toString())?.[state.columnId];
      if (cell?.validated) {
        counts.conflicts++;
        continue;
      }
      if (cell?.status === 'error') counts.errors++;
      else counts.done++;
      counts.inputTokens += cell?.inputTokens ?? 0;
      counts.outputTokens += cell?.outputTokens ?? 0;
      counts.costNano += cell?.costNanoUsd ?? 0;
    }
  }
  Object.assign(state.totals, counts);
  await store.updateRun(state.run.id, {
    done: counts.done,
    errors: counts.errors,
    conflicts: counts.conflicts,
    input_tokens: counts.inputTokens,
    output_tokens: counts.outputTokens,
    cost_nano: counts.costNano,
  });
}

/** One scan of the whole column: cells left, few-shot candidates, values so far. */
async function survey(
  state: ColumnRunState,
  snapshot: ProcessSnapshot,
  eligibility: EligibilityContext,
  duplicates: DuplicateIndex | undefined,
): Promise<{ remaining: number; examples: Example[] }> {
  let remaining = 0;
  const candidates = new ExampleCandidates(snapshot);
  for await (const page of scanRows({
    sheets: state.deps.sheets,
    projectId: state.run.project_id,
    datasetId: state.run.dataset_id,
    columnId: state.columnId,
    inputs: snapshot.inputs,
    scope: { ...state.scope, rowIds: undefined, fromRowId: undefined, toRowId: undefined },
  })) {
    for (const row of page) {
      if (isEligible(row, eligibility)) remaining++;
      candidates.offer(row);
      if (duplicates && row.cell.status === 'done' && typeof row.cell.value === 'string')
        duplicates.add(row.rowId, row.cell.value);
    }
  }
  return { remaining, examples: candidates.newest() };
}
