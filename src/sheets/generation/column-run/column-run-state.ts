import type { LlmService, ProviderConcurrency } from '../../../llm/llm-service.ts';
import type { AppError } from '../../../platform/app-error.ts';
import type { GenerationConfig } from '../../../platform/config.ts';
import type { EventBus } from '../../../platform/events.ts';
import type { RunContext } from '../../../platform/jobs/durable-run.ts';
import type { Logger } from '../../../platform/logger.ts';
import type { ImageGenerationPort } from '../../images/image-generation.ts';
import type { PreparedImages } from '../../images/image-vision.ts';
import type { SheetService } from '../../sheet-service.ts';
import type { FewShotPool } from '../few-shot.ts';
import type { Committer } from '../generation-commit.ts';
import type { DuplicateIndex } from '../generation-dedupe.ts';
import type { GenerationRunInput } from '../generation-job.ts';
import type { outputSchemaFor } from '../generation-output.ts';
import type { ProcessSnapshot } from '../generation-process.ts';
import {
  type ActiveRuns,
  emptyCounters,
  type LiveProgress,
  type RunConcurrency,
  RunExecutionState,
  type RunWaiting,
  runTotalsOf,
  type StopReason,
} from '../generation-run-common.ts';
import type { ScheduleOptions } from '../generation-scheduler.ts';
import type { EligibilityContext, RunScope } from '../generation-scope.ts';
import type { GenerationStore, RunRow } from '../generation-store.ts';
import type { SearchService } from '../search/search-service.ts';

const RATE_WINDOW_MS = 10_000;

export interface RunnerDeps {
  store: GenerationStore;
  sheets: SheetService;
  llm: Pick<LlmService, 'stream' | 'generate'> & Partial<Pick<LlmService, 'concurrency'>>;
  search: SearchService;
  /** Image columns' calls (images/image-generation.ts); absent: their cells fail. */
  images?: ImageGenerationPort | undefined;
  /** Prepares the images of the cells next in line while the calls in flight wait (image-vision.ts). */
  preparedImages?: Pick<PreparedImages, 'prepare'> | undefined;
  events: EventBus;
  logger: Logger;
  config: GenerationConfig;
  /** This process's durable-run lease owner id (counters are saved only while it holds a run). */
  owner: string;
  countTokens: () => Promise<(text: string) => number>;
  /** Runs executing in this process, for live figures and process reloads (shared with rows runs). */
  active: ActiveRuns;
  /** The bench compares the sliding window with a batch barrier. */
  scheduler?: <T>(options: ScheduleOptions<T>) => Promise<{ started: number; exhausted: boolean }>;
  /** Measurement hook: a result was committed `ms` after its call ended. */
  onCommitLatency?: (ms: number) => void;
}

/** What one pass of a run works from: the process as it is now, and the cells left. */
export interface PassPlan {
  snapshot: ProcessSnapshot;
  eligibility: EligibilityContext;
  pool: FewShotPool;
  duplicates: DuplicateIndex | undefined;
  outputSchema: ReturnType<typeof outputSchemaFor>;
  cache: 'use' | 'bypass';
}

/** A run's figures so far (the stored counters plus what this execution added). */
export interface RunTotals {
  done: number;
  errors: number;
  conflicts: number;
  costNano: number;
  inputTokens: number;
  outputTokens: number;
  cacheHits: number;
}

/**
 * What one execution of an AI-column run knows while it works: the run, its stop state, its
 * counters (`delta`: not yet saved; `totals`: the whole run), the cells finished and the pacing
 * figures. The steps (column-run-*.ts) read and change it; ColumnRun (column-run.ts) drives them.
 */
export class ColumnRunState extends RunExecutionState<RunnerDeps, RunRow> {
  readonly columnId: string;
  readonly scope: RunScope;
  readonly startedAt = Date.now();

  /** Renewed each pass: a `restart` (process edited) or `rate-limit` stops only that pass. */
  stopScheduling = new AbortController();
  /** Ends a rate-limit wait early: cancel, pause, budget, shutdown, lost lease. */
  readonly abortWait = new AbortController();

  delta = emptyCounters();
  readonly totals: RunTotals;
  total: number;
  readonly processedTimes: number[] = [];
  lastBeat = Date.now();
  lastProgress = 0;
  processVersion = -1;
  reloadRequested = false;
  firstPass = true;
  readonly completedRows: string[] = [];
  savingCells: Promise<void> = Promise.resolve();
  saveScheduled = false;
  /** A save of finished rows is waiting for the one being written (it takes every row then). */
  saveQueued = false;
  readonly lostCounted = new Set<string>();
  providerConcurrency: ProviderConcurrency | undefined;
  waiting: RunWaiting | undefined;
  /** The last cell error of this execution: a run that ends with errors says what went wrong. */
  lastError: { code: string; message: string } | undefined;
  snapshot: ProcessSnapshot | undefined;
  /** Set by ColumnRun right after construction (its outcomes feed back into this state). */
  committer!: Committer;

  constructor(deps: RunnerDeps, run: RunRow, context: RunContext<GenerationRunInput>) {
    super(
      deps,
      run,
      context,
      deps.logger.child({ runId: run.id, datasetId: run.dataset_id, columnId: run.column_id }),
    );
    this.columnId = run.column_id!;
    this.scope = run.scope as RunScope;
    const { duplicates: _notCounted, ...totals } = runTotalsOf(run);
    this.totals = totals;
    this.total = run.total;
  }

  /** First stop wins, except that a pass-only stop (restart, rate limit) gives way. */
  stop(reason: StopReason, error?: AppError): void {
    const current = this.stopReason;
    if (current && current !== 'restart' && current !== 'rate-limit') return;
    if (current === 'restart' && reason === 'rate-limit') return;
    this.stopReason = reason;
    this.stopError = error;
    this.stopScheduling.abort(reason);
    if (reason !== 'restart' && reason !== 'rate-limit') this.abortWait.abort(reason);
    if (
      reason === 'cancel' ||
      reason === 'pause' ||
      reason === 'shutdown' ||
      reason === 'lease-lost'
    )
      this.abortCalls.abort(reason);
  }

  processed(): number {
    return this.totals.done + this.totals.errors + this.totals.conflicts;
  }

  /** Cells per second over the last ten seconds, the ETA, the window and what limits it. */
  live(): LiveProgress {
    const now = Date.now();
    const times = this.processedTimes;
    while (times.length > 0 && times[0]! < now - RATE_WINDOW_MS) times.shift();
    const span = Math.min(RATE_WINDOW_MS, now - this.startedAt);
    const rate = span > 0 ? (times.length * 1000) / span : 0;
    const remaining = Math.max(0, this.total - this.processed());
    return {
      inFlight: this.inFlight,
      cellsPerSecond: Math.round(rate * 100) / 100,
      etaSeconds: rate > 0 ? Math.round(remaining / rate) : null,
      concurrency: this.concurrency(),
    };
  }

  /** The provider's cap and adaptive limit, read each pass and each beat. */
  async readConcurrency(): Promise<void> {
    const { llm } = this.deps;
    const snapshot = this.snapshot;
    if (!llm.concurrency || !snapshot) return;
    try {
      this.providerConcurrency = await llm.concurrency(
        this.run.project_id,
        snapshot.provider,
        snapshot.model,
      );
    } catch {
      this.providerConcurrency = undefined; // the calls themselves will say what is wrong
    }
  }

  /**
   * Cells the sliding window keeps in flight: the run's window, and half again when the
   * provider's cap is what limits it — its limiter still holds the calls to the cap. A cell
   * spends part of its time outside its call (the cache lookup and the wait for a slot before,
   * the usage row written before the answer after); with exactly `cap` cells those moments
   * left provider slots idle (issue #20: 45 of 64 calls in flight on average over a fill).
   * Never above the server's ceiling, which no limiter enforces.
   */
  cellsInFlight(): number {
    const { window, serverCap, providerCap } = this.concurrency();
    if (providerCap === null || providerCap >= serverCap) return window;
    return Math.min(serverCap, window + Math.ceil(window / 2));
  }

  /** The run's window: the provider's cap, within the server's. */
  concurrency(): RunConcurrency {
    const serverCap = this.deps.config.concurrency;
    const cap = this.providerConcurrency?.cap;
    const window = cap === undefined ? serverCap : Math.min(serverCap, cap);
    const limit = this.providerConcurrency?.limit;
    return {
      window,
      serverCap,
      providerCap: cap ?? null,
      providerLimit: limit ?? null,
      limitedBy:
        limit !== undefined && limit < window
          ? 'rate-limit'
          : cap !== undefined && cap <= serverCap
            ? 'provider'
            : 'server',
    };
  }
}
