import { systemActor } from '../../auth/system-actor.ts';
import type { LlmCallResult } from '../../llm/llm-service.ts';
import { type AppError, isAppError } from '../../platform/app-error.ts';
import { type RunContext, RunStopped } from '../../platform/jobs/durable-run.ts';
import type { Logger } from '../../platform/logger.ts';
import type { CellChange } from './generation-commit.ts';
import type { GenerationRunInput } from './generation-job.ts';
import { RateLimitWait } from './generation-rate-limit.ts';
import type { ScannedRow } from './generation-scope.ts';
import type { RunCounters, RunRow } from './generation-store.ts';

/**
 * What the two run kinds (AI-column runs, generate-rows runs) share: their lease and
 * heartbeat periods, why a run stops, the live figures of a run executing here, and the
 * helpers that turn a failed call into a cell's error text.
 */
/** A run's durable lease: renewed every second; another server may take the run over when it lapses. */
export const LEASE_MS = 30_000;
/** The engine's heartbeat and the runner's (counters, progress, process edits, provider caps). */
export const HEARTBEAT_MS = 1_000;

export type StopReason =
  | 'cancel'
  | 'pause'
  | 'budget'
  | 'shutdown'
  | 'lease-lost'
  | 'restart'
  | 'rate-limit';

/** Why a run's window is the size it is (docs/ai-columns.md, "Scheduler"). */
export interface RunConcurrency {
  /** Calls the run keeps in flight. */
  window: number;
  /** BRAINCELLS_GENERATION_CONCURRENCY: the most any run has in flight on this server. */
  serverCap: number;
  /** The provider connection's cap (`maxConcurrency`); null when it could not be read. */
  providerCap: number | null;
  /** The provider's adaptive limit now (lower than its cap after 429s). */
  providerLimit: number | null;
  /** Which limit holds calls back: the provider's cap, the server's, or rate limiting (429s). */
  limitedBy: 'provider' | 'server' | 'rate-limit';
}

/** A rate-limited run waiting to resume by itself (stored in `generation_run.waiting`). */
export interface RunWaiting {
  reason: 'rate-limited';
  /** ISO time the run resumes at. */
  until: string;
  provider: string | null;
  providerName: string | null;
  message: string;
}

/** Live figures of a run executing in this process (the endpoint adds them to the stored row). */
export interface LiveProgress {
  inFlight: number;
  cellsPerSecond: number;
  etaSeconds: number | null;
  concurrency?: RunConcurrency;
}

export interface ActiveRun {
  stop(reason: StopReason, error?: AppError): void;
  live(): LiveProgress;
  reloadProcess(): void;
}

/** The runs executing in this process (column and rows runs), by generation run id. */
export type ActiveRuns = Map<string, ActiveRun>;

/**
 * What every execution of a generation run holds, an AI column's (column-run/) or a
 * generate-rows one (rows-run/): its dependencies, the run, the durable-run context, a logger
 * naming the run, the system actor it writes as, its stop state and its rate-limit wait. The
 * subclass says how a stop spreads (`stop`).
 */
export abstract class RunExecutionState<Deps, Run extends RunRow> {
  readonly deps: Deps;
  readonly run: Run;
  readonly context: RunContext<GenerationRunInput>;
  readonly log: Logger;
  readonly actor = systemActor();
  stopReason: StopReason | undefined;
  stopError: AppError | undefined;
  readonly abortCalls = new AbortController();
  readonly rateLimit = new RateLimitWait();
  inFlight = 0;

  constructor(deps: Deps, run: Run, context: RunContext<GenerationRunInput>, log: Logger) {
    this.deps = deps;
    this.run = run;
    this.context = context;
    this.log = log;
  }

  abstract stop(reason: StopReason, error?: AppError): void;
}

/** What the engine's stop asks of a runner. */
const STOP_REASONS: Record<RunStopped['reason'], StopReason> = {
  cancelled: 'cancel',
  paused: 'pause',
  shutdown: 'shutdown',
  'lease-lost': 'lease-lost',
};

/** The runner's stop, followed by the engine's: cancel, pause, shutdown or a lost lease. */
export function followEngine(signal: AbortSignal, stop: (reason: StopReason) => void): void {
  const onAbort = () =>
    stop(signal.reason instanceof RunStopped ? STOP_REASONS[signal.reason.reason] : 'cancel');
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
}

/** A run's stored figures, as a resumed execution starts counting from them. */
export const runTotalsOf = (run: RunRow) => ({
  done: run.done,
  errors: run.errors,
  conflicts: run.conflicts,
  duplicates: run.duplicates,
  cacheHits: run.cache_hits,
  inputTokens: Number(run.input_tokens),
  outputTokens: Number(run.output_tokens),
  costNano: Number(run.cost_nano),
});

export const emptyCounters = (): RunCounters => ({
  done: 0,
  errors: 0,
  conflicts: 0,
  cacheHits: 0,
  searchFailures: 0,
  duplicates: 0,
  inputTokens: 0,
  outputTokens: 0,
  costNano: 0,
  activeMs: 0,
});

/** The status a cell goes back to when its generation is abandoned. */
export function previousChange(row: ScannedRow): CellChange {
  return {
    state: {
      status: row.cell.status === 'pending' ? null : (row.cell.status as never),
      error: row.cell.error,
    },
  };
}

/**
 * Safe text of a failed call for the cell (no prompt, no key): the code, our message, and the
 * provider's own words and name when the error carries them (`details.providerMessage` is
 * scrubbed of keys by the LLM module), so a cell says what the provider said, not only
 * "circuit open".
 */
export function cellError(error: unknown): string {
  if (!isAppError(error)) return 'INTERNAL: generation failed';
  const details = (error.details ?? {}) as {
    providerName?: unknown;
    provider?: unknown;
    providerMessage?: unknown;
    httpStatus?: unknown;
  };
  let text = `${error.code}: ${error.message}`;
  const providerMessage =
    typeof details.providerMessage === 'string' ? details.providerMessage.trim() : '';
  if (providerMessage !== '' && !text.includes(providerMessage)) {
    const who =
      typeof details.providerName === 'string'
        ? details.providerName
        : typeof details.provider === 'string'
          ? details.provider
          : 'provider';
    const status = typeof details.httpStatus === 'number' ? ` ${details.httpStatus}` : '';
    text += ` (${who}${status}: ${providerMessage})`;
  }
  return text.slice(0, 1_000);
}

/** A call's input tokens, cache reads and writes included; null when the provider did not say. */
export function inputTokensOf(result: LlmCallResult): number | null {
  const usage = result.usage;
  if (usage.uncachedInputTokens === undefined) return null;
  return usage.uncachedInputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
}
