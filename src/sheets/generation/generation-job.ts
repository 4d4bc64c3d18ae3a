import type {
  DurableRuns,
  ExecuteOutcome,
  RunContext,
  RunRecord,
} from '../../platform/jobs/durable-run.ts';

/**
 * AI-column runs and generate-rows runs are two kinds of durable run (platform/jobs/
 * durable-run.ts): the engine holds their lease, heartbeat, cancel/pause flags, recovery and
 * requeue at shutdown, and pg-boss carries "run X should be executing" on a queue per kind.
 * A durable run has the id of its `generation_run`, the feature's view of it (scope, estimate,
 * counters, waiting). The job executes the runner and, once the engine has settled the run,
 * hands the outcome to the run use cases (generation-runs.ts), never to the store.
 */
export const GENERATE_COLUMN_RUN = 'sheets.generate-column';
export const GENERATE_ROWS_RUN = 'sheets.generate-rows';

/** Input of both kinds (the job payload is the engine's `{ runId }`). */
export interface GenerationRunInput {
  /** The `generation_run` (and durable run) id. */
  runId: string;
}

export const runKindOf = (kind: 'column' | 'rows') =>
  kind === 'rows' ? GENERATE_ROWS_RUN : GENERATE_COLUMN_RUN;

export interface GenerationJobPorts {
  /** The runner: executes an AI-column run (generation-runner.ts). */
  executeColumnRun(context: RunContext<GenerationRunInput>): Promise<void>;
  /** Executes a generate-rows run (rows-run/generate-rows.ts). */
  executeRowsRun(context: RunContext<GenerationRunInput>): Promise<void>;
  /** The run use case that brings the run's view in line with how the engine settled it. */
  settleRun(run: RunRecord, outcome: ExecuteOutcome): Promise<void>;
}

/** Defines both kinds on the engine (which registers their jobs when it has a queue). */
export function defineGenerationRuns(
  runs: DurableRuns,
  ports: GenerationJobPorts,
  concurrency: number,
): void {
  runs.define<GenerationRunInput, void>({
    kind: GENERATE_COLUMN_RUN,
    concurrency,
    execute: (context) => ports.executeColumnRun(context),
    settled: (run, outcome) => ports.settleRun(run, outcome),
  });
  runs.define<GenerationRunInput, void>({
    kind: GENERATE_ROWS_RUN,
    concurrency,
    execute: (context) => ports.executeRowsRun(context),
    settled: (run, outcome) => ports.settleRun(run, outcome),
  });
}
