import type {
  AiProcessView,
  ProvenanceView,
  RunEstimateView,
  RunView,
} from '../../shared/api-types.ts';
import type { presentProcess } from './generation-process.ts';
import type { LiveProgress, RunWaiting } from './generation-runner.ts';
import type { RunScope } from './generation-scope.ts';
import type { RunRow } from './generation-store.ts';

const iso = (value: unknown) =>
  value === null || value === undefined ? null : new Date(value as Date | string).toISOString();

/** Every field of a run that leaves the server, with its progress figures. */
export function presentRun(row: RunRow, live?: LiveProgress): RunView {
  const scope = (row.scope ?? {}) as Partial<RunScope>;
  const processed = row.done + row.errors + row.conflicts;
  const activeSeconds = Number(row.active_ms) / 1000;
  const rate = live?.cellsPerSecond ?? (activeSeconds > 0 ? processed / activeSeconds : 0);
  const remaining = Math.max(0, row.total - processed);
  return {
    id: row.id,
    datasetId: row.dataset_id,
    columnId: row.column_id,
    kind: row.kind,
    mode: row.mode,
    scope: {
      rowIds: scope.rowIds ?? null,
      fromRowId: scope.fromRowId ?? null,
      toRowId: scope.toRowId ?? null,
      includeValidated: scope.includeValidated ?? false,
      includeDownstream: scope.includeDownstream ?? false,
      fresh: scope.fresh ?? false,
    },
    status: row.status,
    /**
     * How a completed run ended: `done` (every cell made), `errors` (some calls failed: "Finished
     * with N errors", retry them with mode `errors`; `error` says what went wrong). Null until
     * the run is completed.
     */
    outcome: row.status === 'completed' ? (row.errors > 0 ? 'errors' : 'done') : null,
    pauseReason: row.pause_reason,
    /** A running run waiting out a provider's rate limiting; it resumes by itself at `until`. */
    waiting: (row.waiting as RunWaiting | null) ?? null,
    /** Calls in flight allowed, and which limit sets it (only while this server executes it). */
    concurrency: live?.concurrency ?? null,
    processVersion: row.process_version,
    estimate: (row.estimate as RunEstimateView | null) ?? null,
    progress: {
      total: row.total,
      done: row.done,
      errors: row.errors,
      conflicts: row.conflicts,
      processed,
      cacheHits: row.cache_hits,
      searchFailures: row.search_failures,
      duplicates: row.duplicates,
      inputTokens: Number(row.input_tokens),
      outputTokens: Number(row.output_tokens),
      costNano: Number(row.cost_nano),
      inFlight: live?.inFlight ?? 0,
      cellsPerSecond: Math.round(rate * 100) / 100,
      etaSeconds:
        row.status === 'running' || row.status === 'queued'
          ? (live?.etaSeconds ?? (rate > 0 ? Math.round(remaining / rate) : null))
          : null,
    },
    // Rows runs list the rows they could not make in `details.failedRows`.
    error: (row.error as { code: string; message: string; details?: unknown } | null) ?? null,
    parentRunId: row.parent_run_id,
    createdBy: row.created_by,
    createdAt: iso(row.created_at),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    updatedAt: iso(row.updated_at),
  };
}

export type { RunView };

/**
 * The fields of a process that shape what the model is asked (prompt with column names,
 * instructions, provider, model, parameters, output, search), as shown to clients and written
 * on a published dataset's card.
 */
export function presentProcessFields(process: ReturnType<typeof presentProcess>) {
  return {
    prompt: process.prompt,
    instructions: process.instructions,
    provider: process.provider,
    model: process.model,
    parameters: process.parameters,
    output: process.output,
    search: process.search,
  };
}

/**
 * An AI column's process as clients see it. The prompt hash identifies a process version
 * inside the server (staleness, outdated cells); clients see `version` instead.
 */
export function presentProcessView(process: ReturnType<typeof presentProcess>): AiProcessView {
  return {
    id: process.id,
    columnId: process.columnId,
    version: process.version,
    ...presentProcessFields(process),
    inputColumnIds: process.inputColumnIds,
    needsPromptEdit: process.needsPromptEdit,
    createdAt: process.createdAt,
    updatedAt: process.updatedAt,
  };
}

/** The use cases' answers that carry a process, with the process presented. */
export const withProcessView = <T extends { process: ReturnType<typeof presentProcess> }>(
  answer: T,
): Omit<T, 'process'> & { process: AiProcessView } => ({
  ...answer,
  process: presentProcessView(answer.process),
});

/**
 * A generated cell's provenance as clients see it: how it was made (model, tokens, cost,
 * sources, the process version) and whether it is up to date; the input and prompt hashes it
 * is compared with stay on the server.
 */
export function presentProvenance(
  provenance: Omit<ProvenanceView, 'current' | 'sources'> & {
    sources: unknown[];
    promptHash: string | null;
    inputHash: string | null;
    current: { processVersion: number; promptHash: string; inputHash: string; upToDate: boolean };
  },
): ProvenanceView {
  return {
    rowId: provenance.rowId,
    columnId: provenance.columnId,
    value: provenance.value,
    status: provenance.status,
    version: provenance.version,
    validated: provenance.validated,
    error: provenance.error,
    raw: provenance.raw,
    model: provenance.model,
    inputTokens: provenance.inputTokens,
    outputTokens: provenance.outputTokens,
    costNanoUsd: provenance.costNanoUsd,
    latencyMs: provenance.latencyMs,
    attempts: provenance.attempts,
    // Search results as they were stored: [{ url, title, snippet }].
    sources: provenance.sources as ProvenanceView['sources'],
    updatedAt: provenance.updatedAt,
    current: {
      processVersion: provenance.current.processVersion,
      upToDate: provenance.current.upToDate,
    },
  };
}
