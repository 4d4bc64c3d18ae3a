import { setTimeout as sleep } from 'node:timers/promises';
import { systemActor } from '../../auth/system-actor.ts';
import type { LlmCallResult, LlmService, ProviderConcurrency } from '../../llm/llm-service.ts';
import { AppError, isAppError } from '../../platform/app-error.ts';
import type { GenerationConfig } from '../../platform/config.ts';
import type { EventBus } from '../../platform/events.ts';
import { type RunContext, RunStopped } from '../../platform/jobs/durable-run.ts';
import type { Logger } from '../../platform/logger.ts';
import type { CellValue } from '../sheet-schema.ts';
import { datasetStream, type SheetService } from '../sheet-service.ts';
import type { ColumnRow } from '../sheet-store.ts';
import { type Example, FewShotPool, MAX_POOL } from './few-shot.ts';
import {
  type CellChange,
  type CellTicket,
  type Committer,
  createCommitter,
} from './generation-commit.ts';
import { DuplicateIndex } from './generation-dedupe.ts';
import type { GenerationRunInput } from './generation-job.ts';
import { buildMessages } from './generation-messages.ts';
import { releaseOrphanedCells } from './generation-orphans.ts';
import { exampleAnswer, outputSchemaFor, parseAnswer } from './generation-output.ts';
import { type ProcessSnapshot, requireInputs, snapshotOf } from './generation-process.ts';
import { RateLimitWait, rateLimitNotice } from './generation-rate-limit.ts';
import { type ScheduleOptions, slidingWindow } from './generation-scheduler.ts';
import {
  type EligibilityContext,
  isEligible,
  type RunScope,
  type ScannedRow,
  scanRows,
} from './generation-scope.ts';
import {
  type GenerationStore,
  type RunCounters,
  type RunRow,
  TERMINAL_STATUSES,
} from './generation-store.ts';
import { inputHashOf, renderTemplate, sha256 } from './prompt-template.ts';
import type { SearchSource } from './search/search-provider.ts';
import type { SearchService } from './search/search-service.ts';

/** A run's durable lease: renewed every second; another server may take the run over when it lapses. */
export const LEASE_MS = 30_000;
/** The engine's heartbeat and the runner's (counters, progress, process edits, provider caps). */
export const HEARTBEAT_MS = 1_000;
const PROGRESS_EVENT_MS = 500;
const RATE_WINDOW_MS = 10_000;
/** Finished cells read per query when a resumed run recounts them. */
const RECOUNT_CHUNK = 1_000;

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

export interface RunnerDeps {
  store: GenerationStore;
  sheets: SheetService;
  llm: Pick<LlmService, 'stream' | 'generate'> & Partial<Pick<LlmService, 'concurrency'>>;
  search: SearchService;
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

export interface ActiveRun {
  stop(reason: StopReason, error?: AppError): void;
  live(): LiveProgress;
  reloadProcess(): void;
}

/** The runs executing in this process (column and rows runs), by generation run id. */
export type ActiveRuns = Map<string, ActiveRun>;

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

const emptyCounters = (): RunCounters => ({
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
function previousChange(row: ScannedRow): CellChange {
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

/**
 * Executes generation runs (the `sheets.generate-column` job). One execution: take the run's
 * lease, read the process, count the cells in scope (and gather few-shot candidates), then
 * feed eligible cells through the sliding window; each call's result is committed by the
 * committer with compare-and-set. A heartbeat renews the lease, saves counters, publishes
 * progress and picks up cancel/pause requests made on other servers.
 */
export function createRunner(deps: RunnerDeps) {
  const { store, sheets, llm, search, events, logger, config, active } = deps;
  const schedule = deps.scheduler ?? slidingWindow;

  /**
   * The kind's `execute`: the engine holds the run's lease. A run its view still shows
   * `running` was left by a worker that died: its cells stuck `generating` are released first.
   */
  async function execute(context: RunContext<GenerationRunInput>): Promise<void> {
    const found = await store.findRun(context.run.id);
    if (found?.kind !== 'column' || !found.column_id)
      throw new AppError('INTERNAL', 'Not an AI-column run');
    if ((TERMINAL_STATUSES as readonly string[]).includes(found.status))
      throw new RunStopped('cancelled');
    if (found.status === 'running') await releaseOrphanedCells({ store, sheets }, found);
    const run =
      (await store.transitionRun(found.id, ['queued', 'running', 'paused'], {
        status: 'running',
        started_at: found.started_at ?? new Date(),
        waiting: null,
      })) ?? found;
    await executeColumnRun(run, context);
  }

  async function executeColumnRun(
    run: RunRow,
    context: RunContext<GenerationRunInput>,
  ): Promise<void> {
    const log = logger.child({ runId: run.id, datasetId: run.dataset_id, columnId: run.column_id });
    const actor = systemActor();
    const projectId = run.project_id;
    const datasetId = run.dataset_id;
    const columnId = run.column_id!;
    const scope = run.scope as RunScope;
    const startedAt = Date.now();

    let stopReason: StopReason | undefined;
    let stopError: AppError | undefined;
    // Renewed for each pass: a `restart` (the process was edited) or a `rate-limit` (wait, then
    // go on) stops only the current pass.
    let stopScheduling = new AbortController();
    const abortCalls = new AbortController();
    // Ends a rate-limit wait early: cancel, pause, budget, shutdown, lost lease.
    const abortWait = new AbortController();
    const stop = (reason: StopReason, error?: AppError) => {
      if (stopReason && stopReason !== 'restart' && stopReason !== 'rate-limit') return;
      if (stopReason === 'restart' && reason === 'rate-limit') return;
      stopReason = reason;
      stopError = error;
      stopScheduling.abort(reason);
      if (reason !== 'restart' && reason !== 'rate-limit') abortWait.abort(reason);
      if (
        reason === 'cancel' ||
        reason === 'pause' ||
        reason === 'shutdown' ||
        reason === 'lease-lost'
      )
        abortCalls.abort(reason);
    };

    let delta = emptyCounters();
    const totals = {
      done: run.done,
      errors: run.errors,
      conflicts: run.conflicts,
      costNano: Number(run.cost_nano),
      inputTokens: Number(run.input_tokens),
      outputTokens: Number(run.output_tokens),
      cacheHits: run.cache_hits,
    };
    let total = run.total;
    let inFlight = 0;
    const processedTimes: number[] = [];
    let lastBeat = Date.now();
    let lastProgress = 0;
    let processVersion = -1;
    let reloadRequested = false;
    let firstPass = true;
    const completedRows: string[] = [];
    let savingCells: Promise<void> = Promise.resolve();

    // The run's window: the provider's cap, within the server's (read each pass and each beat,
    // so a cap changed through the API applies within a second).
    let providerConcurrency: ProviderConcurrency | undefined;
    const readConcurrency = async () => {
      if (!llm.concurrency || !snapshot) return;
      try {
        providerConcurrency = await llm.concurrency(projectId, snapshot.provider, snapshot.model);
      } catch {
        providerConcurrency = undefined; // the calls themselves will say what is wrong
      }
    };
    const concurrency = (): RunConcurrency => {
      const cap = providerConcurrency?.cap;
      const window = cap === undefined ? config.concurrency : Math.min(config.concurrency, cap);
      const limit = providerConcurrency?.limit;
      return {
        window,
        serverCap: config.concurrency,
        providerCap: cap ?? null,
        providerLimit: limit ?? null,
        limitedBy:
          limit !== undefined && limit < window
            ? 'rate-limit'
            : cap !== undefined && cap <= config.concurrency
              ? 'provider'
              : 'server',
      };
    };
    let waiting: RunWaiting | undefined;
    const rateLimit = new RateLimitWait();
    // The last cell error of this execution: a run that ends with errors says what went wrong.
    let lastError: { code: string; message: string } | undefined;

    const processed = () => totals.done + totals.errors + totals.conflicts;
    const live = (): LiveProgress => {
      const now = Date.now();
      while (processedTimes.length > 0 && processedTimes[0]! < now - RATE_WINDOW_MS)
        processedTimes.shift();
      const span = Math.min(RATE_WINDOW_MS, now - startedAt);
      const rate = span > 0 ? (processedTimes.length * 1000) / span : 0;
      const remaining = Math.max(0, total - processed());
      return {
        inFlight,
        cellsPerSecond: Math.round(rate * 100) / 100,
        etaSeconds: rate > 0 ? Math.round(remaining / rate) : null,
        concurrency: concurrency(),
      };
    };
    const progressPayload = (status: string) => ({
      runId: run.id,
      columnId,
      status,
      total,
      done: totals.done,
      errors: totals.errors,
      conflicts: totals.conflicts,
      cacheHits: totals.cacheHits,
      inputTokens: totals.inputTokens,
      outputTokens: totals.outputTokens,
      costNano: totals.costNano,
      waiting: waiting ?? null,
      ...live(),
    });
    const publishProgress = (status = 'running', force = false) => {
      const now = Date.now();
      if (!force && now - lastProgress < PROGRESS_EVENT_MS) return;
      lastProgress = now;
      events.publish(datasetStream(datasetId), {
        type: 'run-progress',
        data: progressPayload(status),
        coalesceKey: `run:${run.id}`,
      });
    };

    const countOutcome = (rowId: string) => {
      processedTimes.push(Date.now());
      completedRows.push(rowId);
    };
    const saveCompletedRows = () => {
      if (completedRows.length === 0) return savingCells;
      const rows = completedRows.splice(0);
      savingCells = savingCells.then(() =>
        store.addRunCells(run.id, rows).catch((error: unknown) => {
          log.warn({ err: error }, 'could not record finished cells of a run');
        }),
      );
      return savingCells;
    };

    /**
     * The counters of the cells a run finished, read from the cells: in error → errors;
     * validated (a person's edit or thumbs-up won over the run's answer) → conflicts; any other
     * (or a row deleted since) → done. Tokens and cost are the finished cells' provenance.
     */
    const recountFinished = async (rowIds: ReadonlySet<string>) => {
      const counts = {
        done: 0,
        errors: 0,
        conflicts: 0,
        inputTokens: 0,
        outputTokens: 0,
        costNano: 0,
      };
      const ids = [...rowIds];
      for (let index = 0; index < ids.length; index += RECOUNT_CHUNK) {
        const chunk = ids.slice(index, index + RECOUNT_CHUNK).map((id) => BigInt(id));
        const cells = await sheets.readCells(actor, projectId, datasetId, [columnId], chunk);
        for (const rowId of chunk) {
          const cell = cells.get(rowId.toString())?.[columnId];
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
      return counts;
    };

    let snapshot!: ProcessSnapshot;
    let columns!: readonly ColumnRow[];
    const loadProcess = async () => {
      const process = await deps.store.findProcessByColumn(columnId);
      if (!process) throw new AppError('NOT_FOUND', 'The AI column no longer exists');
      const dataset = await sheets.requireDataset(actor, projectId, datasetId, 'editor');
      columns = dataset.columns;
      snapshot = snapshotOf(process, columns);
      requireInputs(snapshot, columns);
      processVersion = process.version;
    };

    const lostCounted = new Set<string>();
    let writer: Awaited<ReturnType<SheetService['openCellWriter']>> | undefined;
    let saveScheduled = false;
    const committer: Committer = createCommitter({
      write: async (writes) => {
        // Opened once: batches then cost DuckDB work only (metadata rechecked every 2 s).
        writer ??= await sheets.openCellWriter(actor, projectId, datasetId, columnId);
        return writer(writes);
      },
      intervalMs: config.commitMs,
      onOutcome: (outcome) => {
        switch (outcome.kind) {
          case 'applied':
            if (outcome.state.status === 'error') {
              delta.errors++;
              totals.errors++;
            } else {
              delta.done++;
              totals.done++;
              rateLimit.passed();
            }
            deps.onCommitLatency?.(Date.now() - outcome.enqueuedAt);
            countOutcome(outcome.rowId);
            break;
          case 'mark-lost':
          case 'conflict':
            // A lost mark and its dropped result are one conflict.
            if (!lostCounted.has(outcome.rowId)) {
              lostCounted.add(outcome.rowId);
              delta.conflicts++;
              totals.conflicts++;
              countOutcome(outcome.rowId);
            }
            break;
          default:
            break;
        }
        // One insert per committed batch (its outcomes arrive together), not per cell.
        if (!saveScheduled) {
          saveScheduled = true;
          setImmediate(() => {
            saveScheduled = false;
            void saveCompletedRows();
          });
        }
      },
    });

    const heartbeat = async () => {
      const now = Date.now();
      delta.activeMs += now - lastBeat;
      lastBeat = now;
      const sent = delta;
      delta = emptyCounters();
      try {
        // The engine renews the lease and reads the cancel/pause flags; the counters are ours,
        // saved only while this process holds the run.
        const row = await store.addCounters(run.id, deps.owner, sent);
        if (!row) {
          stop('lease-lost');
          return;
        }
        context.count({ done: sent.done, errors: sent.errors, conflicts: sent.conflicts });
      } catch (error) {
        // Counters come back next beat; a database hiccup must not kill the run.
        for (const key of Object.keys(sent) as (keyof RunCounters)[]) delta[key] += sent[key];
        log.warn({ err: error }, 'generation heartbeat failed');
        return;
      }
      try {
        const process = await store.findProcessByColumn(columnId);
        if (!process) stop('cancel');
        else if (process.version !== processVersion) reloadRequested = true;
      } catch {
        // next beat
      }
      if (reloadRequested) stop('restart');
      await readConcurrency();
      publishProgress();
    };
    let beating: Promise<void> = Promise.resolve();
    const beatTimer = setInterval(() => {
      beating = beating.then(heartbeat);
    }, HEARTBEAT_MS);
    beatTimer.unref();

    const handle: ActiveRun = {
      stop,
      live,
      reloadProcess: () => {
        reloadRequested = true;
        stop('restart');
      },
    };
    active.set(run.id, handle);
    followEngine(context.signal, stop);

    /** A call failed RATE_LIMITED after the router's retries: stop this pass, then wait. */
    const rateLimited = (error: AppError) => {
      rateLimit.refused(rateLimitNotice(error));
      stop('rate-limit');
    };

    /**
     * Waits until the provider's Retry-After has passed (or a growing backoff when it named
     * none), saying so on the run, then lets the loop start a new pass: the cells handed back
     * are eligible again and those finished are skipped. Cancel, pause, a budget stop or
     * shutdown end the wait at once. The run stays `running` and keeps its lease throughout,
     * so a crash while waiting is recovered like any running run.
     */
    const waitOutRateLimit = async () => {
      const until = rateLimit.until;
      const rateLimitedBy = rateLimit.last;
      const name =
        providerConcurrency?.providerRef === rateLimitedBy?.provider
          ? providerConcurrency?.providerName
          : undefined;
      const untilIso = new Date(until).toISOString();
      waiting = {
        reason: 'rate-limited',
        until: untilIso,
        provider: rateLimitedBy?.provider ?? null,
        providerName: name ?? null,
        message: `Rate limited by ${name ?? 'the provider'}, retrying at ${untilIso.slice(11, 19)} UTC${
          rateLimitedBy?.message ? ` (${rateLimitedBy.message.slice(0, 300)})` : ''
        }`,
      };
      log.info({ until: untilIso }, 'generation run rate limited; waiting');
      await store.updateRun(run.id, { waiting }).catch(() => {});
      publishProgress('running', true);
      const delay = rateLimit.remaining();
      if (delay > 0) await sleep(delay, undefined, { signal: abortWait.signal }).catch(() => {});
      rateLimit.waited();
      waiting = undefined;
      await store.updateRun(run.id, { waiting: null }).catch(() => {});
      publishProgress('running', true);
    };

    let failure: unknown;
    try {
      const countTokens = await deps.countTokens();
      // A process edited mid-run: finish the calls in flight, then go on with the new version.
      while (true) {
        reloadRequested = false;
        stopScheduling = new AbortController();
        await loadProcess();
        const outputSchema = outputSchemaFor(snapshot.output);
        const completed = await store.listRunCells(run.id);
        for (const rowId of completedRows) (completed as Set<string>).add(rowId);
        if (firstPass && (completed.size > 0 || processed() > 0)) {
          // A resumed run. Its finished cells are recorded with each commit, its counters only
          // with each heartbeat: after a crash they miss the cells finished since the last
          // beat, or count cells whose finish was not recorded (those are redone). The cells
          // are the truth: recount from them.
          Object.assign(totals, await recountFinished(completed));
          await store.updateRun(run.id, {
            done: totals.done,
            errors: totals.errors,
            conflicts: totals.conflicts,
            input_tokens: totals.inputTokens,
            output_tokens: totals.outputTokens,
            cost_nano: totals.costNano,
          });
        }
        const eligibility: EligibilityContext = {
          scope,
          promptHash: snapshot.promptHash,
          inputs: snapshot.inputs,
          completed,
          rowIdSet: scope.rowIds ? new Set(scope.rowIds) : undefined,
        };

        // Count what is left, and gather few-shot candidates and (for columns from nothing)
        // the values generated so far, over the whole column. A fresh run of a column with no
        // validated cell skips this pass: its creation just counted the same cells.
        const estimate = (run.estimate ?? {}) as { examplesAvailable?: number };
        const fresh =
          firstPass &&
          processed() === 0 &&
          run.process_version === snapshot.version &&
          scope.mode !== 'cells' &&
          estimate.examplesAvailable === 0 &&
          !snapshot.diversity;
        firstPass = false;
        let remaining = 0;
        const candidates: { example: Example; at: string }[] = [];
        const duplicates = snapshot.diversity ? new DuplicateIndex() : undefined;
        if (!fresh) {
          for await (const page of scanRows({
            sheets,
            projectId,
            datasetId,
            columnId,
            inputs: snapshot.inputs,
            scope: { ...scope, rowIds: undefined, fromRowId: undefined, toRowId: undefined },
          })) {
            for (const row of page) {
              if (isEligible(row, eligibility)) remaining++;
              if (row.cell.validated && row.cell.value !== null && candidates.length < MAX_POOL * 4)
                candidates.push({
                  example: {
                    rowId: row.rowId,
                    input: renderTemplate(snapshot.template, row.values),
                    output: exampleAnswer(snapshot.output, row.cell.value),
                  },
                  at: row.cell.updatedAt ?? '',
                });
              if (duplicates && row.cell.status === 'done' && typeof row.cell.value === 'string')
                duplicates.add(row.rowId, row.cell.value);
            }
          }
        } else remaining = run.total;
        candidates.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
        const pool = new FewShotPool(
          candidates.slice(0, MAX_POOL).map((candidate) => candidate.example),
          countTokens,
        );
        total = processed() + remaining;
        if (!fresh) await store.updateRun(run.id, { total, process_version: snapshot.version });
        publishProgress('running', true);

        const current = snapshot;
        const cache = scope.fresh ? 'bypass' : 'use';
        const items = (async function* () {
          for await (const page of scanRows({
            sheets,
            projectId,
            datasetId,
            columnId,
            inputs: current.inputs,
            scope,
          })) {
            for (const row of page) if (isEligible(row, eligibility)) yield row;
          }
        })();

        const callModel = async (
          row: ScannedRow,
          prompt: Parameters<typeof buildMessages>[0],
          signal: AbortSignal,
          cacheMode: 'use' | 'bypass',
        ) => {
          let text = '';
          let result: LlmCallResult | undefined;
          const request = {
            projectId,
            userId: run.created_by ?? undefined,
            feature: 'sheet-cell',
            entityIds: { datasetId, columnId, rowId: row.rowId, runId: run.id },
            ...(current.provider ? { provider: current.provider } : {}),
            model: current.model,
            messages: buildMessages(prompt),
            parameters: current.parameters,
            outputSchema,
            signal,
            cache: cacheMode,
          };
          try {
            if (outputSchema === undefined) {
              // Free text cannot be invalid: one upstream response, no per-chunk work (a
              // streamed call costs several times the CPU of a plain one per answer).
              result = await llm.generate(request);
            } else {
              // Structured output is streamed so the model's raw text survives a parse
              // failure and is kept on the cell.
              for await (const event of llm.stream(request)) {
                if (event.type === 'text-delta') text += event.text;
                else if (event.type === 'attempt-restart') text = '';
                else if (event.type === 'finish') result = event.result;
              }
            }
          } catch (error) {
            if (error instanceof AppError)
              (error as AppError & { rawText?: string }).rawText = text;
            throw error;
          }
          if (!result)
            throw new AppError('PROVIDER_UNAVAILABLE', 'The call ended without an answer');
          delta.inputTokens += inputTokensOf(result) ?? 0;
          delta.outputTokens += result.usage.outputTokens ?? 0;
          delta.costNano += result.costNano ?? 0;
          totals.inputTokens += inputTokensOf(result) ?? 0;
          totals.outputTokens += result.usage.outputTokens ?? 0;
          totals.costNano += result.costNano ?? 0;
          if (result.cacheHit) {
            delta.cacheHits++;
            totals.cacheHits++;
          }
          return { text: result.text || text, result };
        };

        const generateCell = async (row: ScannedRow) => {
          inFlight++;
          const ticket: CellTicket = committer.begin(
            BigInt(row.rowId),
            row.cell.version,
            { state: { status: 'generating', error: null } },
            // Marked stale (or restored) by the system since it was read: still ours to fill.
            // A person's edit changes the value or validates the cell, and wins.
            (current) =>
              !current.state.validated &&
              current.state.status !== 'generating' &&
              JSON.stringify(current.value) === JSON.stringify(row.cell.value),
          );
          const cellAbort = new AbortController();
          const signal = AbortSignal.any([abortCalls.signal, cellAbort.signal]);
          ticket.onLost(() => cellAbort.abort('lost'));
          const inputHash = inputHashOf(current.inputs, row.values);
          const rendered = renderTemplate(current.template, row.values);
          try {
            let sources: SearchSource[] | undefined;
            let note: string | null = null;
            if (current.search?.enabled) {
              const query = current.search.query
                ? renderTemplate(current.search.query, row.values)
                : rendered;
              const outcome = await search.search(query, signal);
              if (outcome.ok) sources = outcome.sources;
              else {
                delta.searchFailures++;
                note = `Generated without sources: ${outcome.reason}`;
              }
            }
            const examples = pool.select(rendered, {
              k: config.fewShotK,
              tokenBudget: config.fewShotTokens,
              excludeRowId: row.rowId,
            }).examples;
            const prompt = {
              columnName: current.columnName,
              outputSpec: current.output,
              instructions: current.instructions,
              rendered,
              examples,
              sources,
              diversity: current.diversity
                ? {
                    seed: sha256(`${current.processId}:${row.rowId}`).slice(0, 8),
                    avoid: [] as string[],
                  }
                : undefined,
            };
            let { text, result } = await callModel(row, prompt, signal, cache);
            let parsed = parseAnswer(current.output, { text, output: result.output });
            let attempts = result.attempts;
            if (parsed.ok && duplicates && typeof parsed.value === 'string') {
              // A near-duplicate of another row: once more, asked to differ from it.
              let match = duplicates.find(parsed.value, row.rowId);
              if (match) {
                const retry = await callModel(
                  row,
                  { ...prompt, diversity: { seed: prompt.diversity!.seed, avoid: [match.text] } },
                  signal,
                  'bypass',
                );
                ({ text, result } = retry);
                attempts += retry.result.attempts;
                parsed = parseAnswer(current.output, { text, output: result.output });
                match =
                  parsed.ok && typeof parsed.value === 'string'
                    ? duplicates.find(parsed.value, row.rowId)
                    : undefined;
                if (match) {
                  delta.duplicates++;
                  note = `Near-duplicate of row ${match.key}`;
                }
              }
              if (parsed.ok && typeof parsed.value === 'string')
                duplicates.add(row.rowId, parsed.value);
            }
            if (!note && result.finishReason === 'length' && parsed.ok)
              note = 'The answer was cut at the output token limit';
            const provenance = {
              validated: false,
              inputHash,
              promptHash: current.promptHash,
              model: result.model,
              inputTokens: inputTokensOf(result),
              outputTokens: result.usage.outputTokens ?? null,
              costNanoUsd: result.costNano,
              latencyMs: result.latencyMs,
              attempts,
              sources: sources ? JSON.stringify(sources) : null,
            };
            // Made with a prompt that changed meanwhile: kept, and shown as stale.
            const fresh = current.promptHash === snapshot.promptHash;
            committer.finish(
              ticket,
              parsed.ok
                ? {
                    value: parsed.value as CellValue,
                    state: {
                      ...provenance,
                      status: fresh ? 'done' : 'stale',
                      error: note,
                      raw: null,
                    },
                  }
                : {
                    state: { ...provenance, status: 'error', error: parsed.error, raw: parsed.raw },
                  },
            );
            if (!parsed.ok) lastError = { code: 'PROVIDER_ERROR', message: parsed.error };
          } catch (error) {
            if (signal.aborted) {
              committer.restore(ticket, previousChange(row));
            } else if (isAppError(error) && error.code === 'BUDGET_EXCEEDED') {
              committer.restore(ticket, previousChange(row));
              stop('budget', error);
            } else if (isAppError(error) && error.code === 'RATE_LIMITED') {
              // The router's retries are spent and the provider still says 429: not the cell's
              // fault. It goes back as it was (no attempt spent) and the run waits, then
              // carries on with it: a storm never turns into failed cells.
              committer.restore(ticket, previousChange(row));
              rateLimited(error);
            } else {
              // A failed cell is data: status error, message, what the model wrote (if any).
              const raw = (error as { rawText?: string }).rawText;
              const details = isAppError(error) ? error.details : undefined;
              if (!isAppError(error))
                log.error({ err: error, rowId: row.rowId }, 'cell generation failed');
              const message = cellError(error);
              lastError = { code: isAppError(error) ? error.code : 'INTERNAL', message };
              committer.finish(ticket, {
                state: {
                  status: 'error',
                  error: message,
                  raw: raw ? raw.slice(0, 100_000) : null,
                  validated: false,
                  inputHash,
                  promptHash: current.promptHash,
                  model: current.model,
                  attempts: typeof details?.attempts === 'number' ? details.attempts : null,
                  // No answer: no tokens, cost or sources of an earlier call left on the cell.
                  inputTokens: null,
                  outputTokens: null,
                  costNanoUsd: null,
                  latencyMs: null,
                  sources: null,
                },
              });
            }
          } finally {
            inFlight--;
          }
        };

        await readConcurrency();
        const result = await schedule({
          items,
          concurrency: () => concurrency().window,
          run: generateCell,
          signal: stopScheduling.signal,
        });
        await committer.drain();
        await saveCompletedRows();
        // Rate limited (an edit of the process meanwhile does not cut the wait short).
        if (
          stopReason === 'rate-limit' ||
          (stopReason === 'restart' && rateLimit.remaining() > 0)
        ) {
          stopReason = undefined;
          await waitOutRateLimit();
          if (stopReason === 'restart') stopReason = undefined;
          if (stopReason === undefined) continue;
          break;
        }
        if (stopReason === 'restart') {
          stopReason = undefined;
          continue;
        }
        if (result.exhausted && stopReason === undefined) break;
        if (stopReason !== undefined) break;
      }
    } catch (error) {
      failure = error;
    } finally {
      clearInterval(beatTimer);
      await beating;
      committer.close();
      active.delete(run.id);
    }

    await finish(run, {
      stopReason: stopReason === 'restart' || stopReason === 'rate-limit' ? undefined : stopReason,
      stopError,
      lastError,
      failure,
      delta,
      lastBeat,
      log,
      publish: (status) => publishProgress(status, true),
    });
  }

  /**
   * Saves the run's last counters and what the view should say (a budget stop, "Finished with
   * N errors"), then tells the engine how the execution ended: it returns (completed) or throws
   * (failed, or a RunStopped), and the engine settles the durable run; the run use cases then
   * bring the view in line (settleRun).
   */
  async function finish(
    run: RunRow,
    outcome: {
      stopReason: StopReason | undefined;
      stopError: AppError | undefined;
      lastError: { code: string; message: string } | undefined;
      failure: unknown;
      delta: RunCounters;
      lastBeat: number;
      log: Logger;
      publish: (status: string) => void;
    },
  ): Promise<void> {
    const { stopReason, failure, log } = outcome;
    outcome.delta.activeMs += Date.now() - outcome.lastBeat;
    if (stopReason === 'lease-lost') {
      log.warn('lost the lease of a generation run; another server continues it');
      throw new RunStopped('lease-lost');
    }
    const saved = await store.addCounters(run.id, deps.owner, outcome.delta).catch(() => undefined);
    await store.updateRun(run.id, { waiting: null });
    if (failure !== undefined) {
      if (!isAppError(failure)) log.error({ err: failure }, 'generation run failed');
      throw failure;
    }
    if (stopReason === 'cancel') throw new RunStopped('cancelled');
    if (stopReason === 'pause') {
      await store.updateRun(run.id, { error: null });
      throw new RunStopped('paused', 'user');
    }
    if (stopReason === 'budget') {
      await store.updateRun(run.id, {
        error: {
          code: 'BUDGET_EXCEEDED',
          message: outcome.stopError?.message ?? 'A budget is exhausted',
        },
      });
      throw new RunStopped('paused', 'budget');
    }
    if (stopReason === 'shutdown') throw new RunStopped('shutdown');
    // Finished, but not all well: the run says so (not a green "Done") and what went wrong.
    const errors = saved?.errors ?? 0;
    await store.updateRun(run.id, {
      error:
        errors > 0
          ? {
              code: outcome.lastError?.code ?? 'PROVIDER_ERROR',
              message: `Finished with ${errors} ${errors === 1 ? 'error' : 'errors'}${
                outcome.lastError ? `; last: ${outcome.lastError.message}` : ''
              }`.slice(0, 2_000),
              details: { errors },
            }
          : null,
    });
    log.info('generation run finished');
  }

  return {
    /** The `sheets.generate-column` kind's execute (generation-job.ts). */
    execute,
    /** Stops a run executing in this process; false when it is not here. */
    stop(runId: string, reason: StopReason): boolean {
      const run = active.get(runId);
      if (!run) return false;
      run.stop(reason);
      return true;
    },
    live(runId: string): LiveProgress | undefined {
      return active.get(runId)?.live();
    },
    /** The column's process changed: runs of it go on with the new version. */
    processChanged(runIds: readonly string[]): void {
      for (const id of runIds) active.get(id)?.reloadProcess();
    },
  };
}

export type Runner = ReturnType<typeof createRunner>;
