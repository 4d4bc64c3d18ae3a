import type { RunHandoff } from '../../platform/datasets/dataset-run-handoff.ts';
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
  /** The dataset a run writes (undefined: the run is gone). */
  datasetOf(runId: string): Promise<string | undefined>;
}

/**
 * Defines both kinds on the engine (which registers their jobs when it has a queue). With a
 * hand-off (several servers), a run whose dataset another live server holds is executed there
 * (platform/datasets/dataset-run-handoff.ts): the job that got it gives it back, and the run's
 * view is left as it was for the holder to take up.
 */
export function defineGenerationRuns(
  runs: DurableRuns,
  ports: GenerationJobPorts,
  concurrency: number,
  handoff?: RunHandoff,
): void {
  const where = <T>(runId: string, work: () => Promise<T>) =>
    handoff ? handoff.execute(runId, () => ports.datasetOf(runId), work) : work();
  const settled = async (run: RunRecord, outcome: ExecuteOutcome) => {
    if (handoff?.settled(run, outcome)) return;
    await ports.settleRun(run, outcome);
  };
  runs.define<GenerationRunInput, void>({
    kind: GENERATE_COLUMN_RUN,
    concurrency,
    execute: (context) => where(context.run.id, () => ports.executeColumnRun(context)),
    settled,
  });
  runs.define<GenerationRunInput, void>({
    kind: GENERATE_ROWS_RUN,
    concurrency,
    execute: (context) => where(context.run.id, () => ports.executeRowsRun(context)),
    settled,
  });
  handoff?.register([GENERATE_COLUMN_RUN, GENERATE_ROWS_RUN], (runId) => runs.execute(runId));
}
