import type { SheetService } from '../sheet-service.ts';
import { ExampleCandidates } from './few-shot-candidates.ts';
import type { ProcessSnapshot } from './generation-process.ts';
import {
  isEligible,
  isOutdated,
  type RunScope,
  type ScannedRow,
  scanRows,
} from './generation-scope.ts';

/** Rows whose prompts are measured to estimate a run's input tokens. */
export const ESTIMATE_SAMPLE = 20;

/** The mean of what done cells recorded (output tokens, latency); undefined below 3 cells. */
class DoneCellMean {
  #sum = 0;
  #count = 0;
  add(value: number | null, status: string): void {
    if (value === null || status !== 'done') return;
    this.#sum += value;
    this.#count++;
  }
  get mean(): number | undefined {
    return this.#count >= 3 ? this.#sum / this.#count : undefined;
  }
}

/** A uniform sample of the cells a run would call the model for (reservoir sampling). */
class Reservoir {
  readonly rows: ScannedRow[] = [];
  #seen = 0;
  offer(row: ScannedRow): void {
    this.#seen++;
    if (this.rows.length < ESTIMATE_SAMPLE) this.rows.push(row);
    else {
      const slot = Math.floor(Math.random() * this.#seen);
      if (slot < ESTIMATE_SAMPLE) this.rows[slot] = row;
    }
  }
}

/**
 * One pass over the scope: how many cells a run would generate, a uniform sample of them
 * (reservoir), few-shot candidates, and what the column's generated cells cost so far.
 * Range positions (1-based, row order) are resolved to row ids on the way.
 */
export async function surveyScope(
  sheets: SheetService,
  snapshot: ProcessSnapshot,
  scope: RunScope,
  range?: { from: number; to: number },
) {
  const sample = new Reservoir();
  const candidates = new ExampleCandidates(snapshot);
  const outputTokens = new DoneCellMean();
  const latency = new DoneCellMean();
  let cells = 0;
  let cacheHits = 0;
  let ordinal = 0;
  let maxRowId: string | undefined;
  const resolved: RunScope = { ...scope };
  const context = {
    scope: resolved,
    promptHash: snapshot.promptHash,
    inputs: snapshot.inputs,
    completed: new Set<string>(),
  };
  for await (const page of scanRows({
    sheets,
    projectId: snapshot.projectId,
    datasetId: snapshot.datasetId,
    columnId: snapshot.columnId,
    inputs: snapshot.inputs,
    scope: {
      ...scope,
      mode: scope.mode === 'range' ? 'all' : scope.mode,
      fromRowId: undefined,
      toRowId: undefined,
    },
  })) {
    for (const row of page) {
      ordinal++;
      maxRowId = row.rowId;
      if (range) {
        if (ordinal === range.from) resolved.fromRowId = row.rowId;
        if (ordinal <= range.to) resolved.toRowId = row.rowId;
      }
      outputTokens.add(row.cell.outputTokens, row.cell.status);
      latency.add(row.cell.latencyMs, row.cell.status);
      candidates.offer(row);
      const inRange = !range || (ordinal >= range.from && ordinal <= range.to);
      const mode = resolved.mode === 'range' ? 'all' : resolved.mode;
      if (!inRange || !isEligible(row, { ...context, scope: { ...resolved, mode } })) continue;
      cells++;
      // Its answer came from this very prompt and these inputs: the cache has it (unless
      // the run skips the cache). Such cells cost nothing and take no time.
      if (
        !scope.fresh &&
        (row.cell.status === 'done' || row.cell.status === 'stale') &&
        row.cell.promptHash !== null &&
        !isOutdated(row, context)
      ) {
        cacheHits++;
        continue;
      }
      sample.offer(row);
    }
  }
  if (range && resolved.fromRowId === undefined) {
    resolved.fromRowId = '1';
    resolved.toRowId = '0';
  }
  if (scope.mode !== 'cells') resolved.maxRowId = maxRowId ?? '0';
  return {
    scope: resolved,
    cells,
    cacheHits,
    sample: sample.rows,
    examples: candidates.newest(),
    observedOutputTokens: outputTokens.mean,
    observedLatencyMs: latency.mean,
  };
}

export type Survey = Awaited<ReturnType<typeof surveyScope>>;
