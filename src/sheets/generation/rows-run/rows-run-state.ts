import type { AuditRecorder } from '../../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../../access/project-access.ts';
import type { LlmService } from '../../../llm/llm-service.ts';
import type { AppError } from '../../../platform/app-error.ts';
import type { GenerationConfig } from '../../../platform/config.ts';
import type { EventBus } from '../../../platform/events.ts';
import type { RunContext, StepRecord } from '../../../platform/jobs/durable-run.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { CellValue } from '../../sheet-schema.ts';
import type { SheetService } from '../../sheet-service.ts';
import type { GenerationRunInput } from '../generation-job.ts';
import {
  type ActiveRuns,
  RunExecutionState,
  type RunWaiting,
  runTotalsOf,
  type StopReason,
} from '../generation-run-common.ts';
import type { GenerationStore, RunRow } from '../generation-store.ts';
import { type BatchCounts, failuresOf, type RowFailure, type RowsScope } from './rows-shape.ts';

export interface RowsGenerationDeps {
  store: GenerationStore;
  sheets: SheetService;
  llm: Pick<LlmService, 'generate'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  events: EventBus;
  config: GenerationConfig;
  logger: Logger;
  /** Hands a queued run to the durable-run engine (RunControl.queue). */
  queue: (run: RunRow) => Promise<void>;
  /** Runs executing in this process (live figures), shared with the column runner. */
  active: ActiveRuns;
  /** The run's checkpointed steps (the engine's `steps`): a resumed run counts from them. */
  steps: (runId: string) => Promise<StepRecord[]>;
}

/** A run as its last finished batch left it, with the number of batches appended so far. */
export type ResumedRowsRun = RunRow & { batches: number };

/**
 * What one execution of a generate-rows run knows while it works: its stop state, its counts
 * (saved with each appended batch), the rows made but not yet appended, the rows that failed
 * and the rate-limit wait. The steps (rows-run-*.ts) read and change it.
 */
export class RowsRunState extends RunExecutionState<RowsGenerationDeps, ResumedRowsRun> {
  readonly scope: RowsScope;
  readonly stopScheduling = new AbortController();
  /** Ends a rate-limit wait: any stop. */
  readonly stopped: AbortSignal;
  /** Saved with each appended batch: a resumed run starts from what was saved. */
  readonly counts: Omit<BatchCounts, 'error'>;
  readonly failures: RowFailure[];
  batch: number;
  announced: RunWaiting | undefined;
  pending: Record<string, CellValue>[] = [];
  changed = false;
  appending: Promise<void> = Promise.resolve();

  constructor(
    deps: RowsGenerationDeps,
    run: ResumedRowsRun,
    context: RunContext<GenerationRunInput>,
  ) {
    super(deps, run, context, deps.logger.child({ runId: run.id, datasetId: run.dataset_id }));
    this.batch = run.batches;
    this.scope = run.scope as RowsScope;
    this.stopped = AbortSignal.any([this.abortCalls.signal, this.stopScheduling.signal]);
    const { conflicts: _none, cacheHits: _uncached, ...counts } = runTotalsOf(run);
    this.counts = counts;
    this.failures = failuresOf(run);
  }

  /** First stop wins. A budget stop lets the calls in flight finish; the others abort them. */
  stop(reason: StopReason, error?: AppError): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.stopError = error;
    this.stopScheduling.abort(reason);
    if (reason !== 'budget') this.abortCalls.abort(reason);
  }
}
