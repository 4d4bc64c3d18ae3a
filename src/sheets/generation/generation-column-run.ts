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
import { type Example, FewShotPool, MAX_POOL } from './few-shot.ts';
import { type CellTicket, type Committer, createCommitter } from './generation-commit.ts';
import { DuplicateIndex } from './generation-dedupe.ts';
import type { GenerationRunInput } from './generation-job.ts';
import { buildMessages, cellPrompt, diversitySeed } from './generation-messages.ts';
import { exampleAnswer, outputSchemaFor, parseAnswer } from './generation-output.ts';
import { type ProcessSnapshot, requireInputs, snapshotOf } from './generation-process.ts';
import { RateLimitWait, rateLimitNotice } from './generation-rate-limit.ts';
import {
  type ActiveRuns,
  cellError,
  emptyCounters,
  followEngine,
  HEARTBEAT_MS,
  inputTokensOf,
  type LiveProgress,
  previousChange,
  type RunConcurrency,
  type RunWaiting,
  type StopReason,
} from './generation-run-common.ts';
import { type ScheduleOptions, slidingWindow } from './generation-scheduler.ts';
import {
  type EligibilityContext,
  isEligible,
  type RunScope,
  type ScannedRow,
  scanRows,
} from './generation-scope.ts';
import type { GenerationStore, RunCounters, RunRow } from './generation-store.ts';
import { inputHashOf, renderTemplate } from './prompt-template.ts';
import type { SearchSource } from './search/search-provider.ts';
import type { SearchService } from './search/search-service.ts';

const PROGRESS_EVENT_MS = 500;
const RATE_WINDOW_MS = 10_000;
/** Finished cells read per query when a resumed run recounts them. */
const RECOUNT_CHUNK = 1_000;

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

/** What one pass of a run works from: the process as it is now, and the cells left. */
interface PassPlan {
  snapshot: ProcessSnapshot;
  eligibility: EligibilityContext;
  pool: FewShotPool;
  duplicates: DuplicateIndex | undefined;
  outputSchema: ReturnType<typeof outputSchemaFor>;
  cache: 'use' | 'bypass';
}

type Prompt = Parameters<typeof buildMessages>[0];

/**
 * One execution of an AI-column run (the engine holds its lease). Its steps, in order:
 *   - `plan` a pass: read the process, recount a resumed run from its cells, count what is
 *     left and gather few-shot examples (and, for a column from nothing, the values so far);
 *   - `claimCells`: the eligible cells, page by page, fed through the sliding window;
 *   - `generateCell`: mark it generating (a ticket), build its prompt, call the model (once
 *     more for a near-duplicate), then `commit` the answer or an error — compare-and-set, so a
 *     person's edit meanwhile wins — or hand the cell back as it was;
 *   - `waitOutRateLimit` when calls stay rate limited, then another pass; a process edit also
 *     starts another pass, with the new version;
 *   - `settle`: save the counters and tell the engine how it ended.
 * A heartbeat every second saves counters, publishes progress and re-reads the process and the
 * provider's cap; the engine's own heartbeat renews the lease and reads cancel/pause.
 */
export class ColumnRun {
  readonly #deps: RunnerDeps;
  readonly #run: RunRow;
  readonly #context: RunContext<GenerationRunInput>;
  readonly #log: Logger;
  readonly #actor = systemActor();
  readonly #columnId: string;
  readonly #scope: RunScope;
  readonly #startedAt = Date.now();

  #stopReason: StopReason | undefined;
  #stopError: AppError | undefined;
  /** Renewed each pass: a `restart` (process edited) or `rate-limit` stops only that pass. */
  #stopScheduling = new AbortController();
  readonly #abortCalls = new AbortController();
  /** Ends a rate-limit wait early: cancel, pause, budget, shutdown, lost lease. */
  readonly #abortWait = new AbortController();

  #delta = emptyCounters();
  readonly #totals: {
    done: number;
    errors: number;
    conflicts: number;
    costNano: number;
    inputTokens: number;
    outputTokens: number;
    cacheHits: number;
  };
  #total: number;
  #inFlight = 0;
  readonly #processedTimes: number[] = [];
  #lastBeat = Date.now();
  #lastProgress = 0;
  #processVersion = -1;
  #reloadRequested = false;
  #firstPass = true;
  readonly #completedRows: string[] = [];
  #savingCells: Promise<void> = Promise.resolve();
  #saveScheduled = false;
  readonly #lostCounted = new Set<string>();
  #providerConcurrency: ProviderConcurrency | undefined;
  #waiting: RunWaiting | undefined;
  readonly #rateLimit = new RateLimitWait();
  /** The last cell error of this execution: a run that ends with errors says what went wrong. */
  #lastError: { code: string; message: string } | undefined;
  #snapshot: ProcessSnapshot | undefined;
  #writer: Awaited<ReturnType<SheetService['openCellWriter']>> | undefined;
  readonly #committer: Committer;

  constructor(deps: RunnerDeps, run: RunRow, context: RunContext<GenerationRunInput>) {
    this.#deps = deps;
    this.#run = run;
    this.#context = context;
    this.#columnId = run.column_id!;
    this.#scope = run.scope as RunScope;
    this.#log = deps.logger.child({
      runId: run.id,
      datasetId: run.dataset_id,
      columnId: run.column_id,
    });
    this.#totals = {
      done: run.done,
      errors: run.errors,
      conflicts: run.conflicts,
      costNano: Number(run.cost_nano),
      inputTokens: Number(run.input_tokens),
      outputTokens: Number(run.output_tokens),
      cacheHits: run.cache_hits,
    };
    this.#total = run.total;
    this.#committer = createCommitter({
      write: async (writes) => {
        // Opened once: batches then cost DuckDB work only (metadata rechecked every 2 s).
        this.#writer ??= await deps.sheets.openCellWriter(
          this.#actor,
          run.project_id,
          run.dataset_id,
          this.#columnId,
        );
        return this.#writer(writes);
      },
      intervalMs: deps.config.commitMs,
      onOutcome: (outcome) => this.#committed(outcome),
    });
  }

  /** Runs the passes, then settles; resolves (completed) or throws (failed, stopped). */
  async execute(): Promise<void> {
    const active = this.#deps.active;
    active.set(this.#run.id, {
      stop: (reason, error) => this.stop(reason, error),
      live: () => this.live(),
      reloadProcess: () => {
        this.#reloadRequested = true;
        this.stop('restart');
      },
    });
    followEngine(this.#context.signal, (reason) => this.stop(reason));
    let beating: Promise<void> = Promise.resolve();
    const beatTimer = setInterval(() => {
      beating = beating.then(() => this.#heartbeat());
    }, HEARTBEAT_MS);
    beatTimer.unref();
    let failure: unknown;
    try {
      const countTokens = await this.#deps.countTokens();
      // A process edited mid-run: finish the calls in flight, then go on with the new version.
      while (true) {
        this.#reloadRequested = false;
        this.#stopScheduling = new AbortController();
        const plan = await this.#plan(countTokens);
        const result = await this.#generatePass(plan);
        await this.#committer.drain();
        await this.#saveCompletedRows();
        if (await this.#nextPass(result.exhausted)) continue;
        break;
      }
    } catch (error) {
      failure = error;
    } finally {
      clearInterval(beatTimer);
      await beating;
      this.#committer.close();
      active.delete(this.#run.id);
    }
    const reason = this.#stopReason;
    await this.#settle(
      reason === 'restart' || reason === 'rate-limit' ? undefined : reason,
      failure,
    );
  }

  /** First stop wins, except that a pass-only stop (restart, rate limit) gives way. */
  stop(reason: StopReason, error?: AppError): void {
    const current = this.#stopReason;
    if (current && current !== 'restart' && current !== 'rate-limit') return;
    if (current === 'restart' && reason === 'rate-limit') return;
    this.#stopReason = reason;
    this.#stopError = error;
    this.#stopScheduling.abort(reason);
    if (reason !== 'restart' && reason !== 'rate-limit') this.#abortWait.abort(reason);
    if (
      reason === 'cancel' ||
      reason === 'pause' ||
      reason === 'shutdown' ||
      reason === 'lease-lost'
    )
      this.#abortCalls.abort(reason);
  }

  live(): LiveProgress {
    const now = Date.now();
    const times = this.#processedTimes;
    while (times.length > 0 && times[0]! < now - RATE_WINDOW_MS) times.shift();
    const span = Math.min(RATE_WINDOW_MS, now - this.#startedAt);
    const rate = span > 0 ? (times.length * 1000) / span : 0;
    const remaining = Math.max(0, this.#total - this.#processed());
    return {
      inFlight: this.#inFlight,
      cellsPerSecond: Math.round(rate * 100) / 100,
      etaSeconds: rate > 0 ? Math.round(remaining / rate) : null,
      concurrency: this.#concurrency(),
    };
  }

  // — plan —

  /**
   * Reads the process (a pass follows the version current when it starts), recounts a resumed
   * run from its cells, counts what is left and gathers the few-shot pool (and, for a column
   * from nothing, the values so far, so a new one is not a near-duplicate of them).
   */
  async #plan(countTokens: (text: string) => number): Promise<PassPlan> {
    const { store } = this.#deps;
    const run = this.#run;
    const scope = this.#scope;
    const snapshot = await this.#loadProcess();
    const completed = await store.listRunCells(run.id);
    for (const rowId of this.#completedRows) completed.add(rowId);
    if (this.#firstPass && (completed.size > 0 || this.#processed() > 0))
      await this.#recount(completed);
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
      this.#firstPass &&
      this.#processed() === 0 &&
      run.process_version === snapshot.version &&
      scope.mode !== 'cells' &&
      estimate.examplesAvailable === 0 &&
      !snapshot.diversity;
    this.#firstPass = false;
    const duplicates = snapshot.diversity ? new DuplicateIndex() : undefined;
    const surveyed = fresh
      ? { remaining: run.total, examples: [] }
      : await this.#survey(snapshot, eligibility, duplicates);
    const pool = new FewShotPool(surveyed.examples, countTokens);
    this.#total = this.#processed() + surveyed.remaining;
    if (!fresh)
      await store.updateRun(run.id, { total: this.#total, process_version: snapshot.version });
    this.#publishProgress('running', true);
    return {
      snapshot,
      eligibility,
      pool,
      duplicates,
      outputSchema: outputSchemaFor(snapshot.output),
      cache: scope.fresh ? 'bypass' : 'use',
    };
  }

  async #loadProcess(): Promise<ProcessSnapshot> {
    const { store, sheets } = this.#deps;
    const process = await store.findProcessByColumn(this.#columnId);
    if (!process) throw new AppError('NOT_FOUND', 'The AI column no longer exists');
    const dataset = await sheets.requireDataset(
      this.#actor,
      this.#run.project_id,
      this.#run.dataset_id,
      'editor',
    );
    const snapshot = snapshotOf(process, dataset.columns);
    requireInputs(snapshot, dataset.columns);
    this.#processVersion = process.version;
    this.#snapshot = snapshot;
    return snapshot;
  }

  /**
   * A resumed run. Its finished cells are recorded with each commit, its counters only with
   * each heartbeat: after a crash they miss the cells finished since the last beat, or count
   * cells whose finish was not recorded (those are redone). The cells are the truth: in error →
   * errors; validated (a person's edit or thumbs-up won over the run's answer) → conflicts; any
   * other (or a row deleted since) → done. Tokens and cost are the finished cells' provenance.
   */
  async #recount(completed: ReadonlySet<string>): Promise<void> {
    const { sheets, store } = this.#deps;
    const counts = {
      done: 0,
      errors: 0,
      conflicts: 0,
      inputTokens: 0,
      outputTokens: 0,
      costNano: 0,
    };
    const ids = [...completed];
    for (let index = 0; index < ids.length; index += RECOUNT_CHUNK) {
      const chunk = ids.slice(index, index + RECOUNT_CHUNK).map((id) => BigInt(id));
      const cells = await sheets.readCells(
        this.#actor,
        this.#run.project_id,
        this.#run.dataset_id,
        [this.#columnId],
        chunk,
      );
      for (const rowId of chunk) {
        const cell = cells.get(rowId.toString())?.[this.#columnId];
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
    Object.assign(this.#totals, counts);
    await store.updateRun(this.#run.id, {
      done: counts.done,
      errors: counts.errors,
      conflicts: counts.conflicts,
      input_tokens: counts.inputTokens,
      output_tokens: counts.outputTokens,
      cost_nano: counts.costNano,
    });
  }

  /** One scan of the whole column: cells left, few-shot candidates, values so far. */
  async #survey(
    snapshot: ProcessSnapshot,
    eligibility: EligibilityContext,
    duplicates: DuplicateIndex | undefined,
  ): Promise<{ remaining: number; examples: Example[] }> {
    let remaining = 0;
    const candidates: { example: Example; at: string }[] = [];
    for await (const page of scanRows({
      sheets: this.#deps.sheets,
      projectId: this.#run.project_id,
      datasetId: this.#run.dataset_id,
      columnId: this.#columnId,
      inputs: snapshot.inputs,
      scope: { ...this.#scope, rowIds: undefined, fromRowId: undefined, toRowId: undefined },
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
    candidates.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    return {
      remaining,
      examples: candidates.slice(0, MAX_POOL).map((candidate) => candidate.example),
    };
  }

  // — claim cells and generate them —

  /** The eligible cells of the run's scope, page by page (read as the window asks for more). */
  async *#claimCells(plan: PassPlan): AsyncGenerator<ScannedRow> {
    for await (const page of scanRows({
      sheets: this.#deps.sheets,
      projectId: this.#run.project_id,
      datasetId: this.#run.dataset_id,
      columnId: this.#columnId,
      inputs: plan.snapshot.inputs,
      scope: this.#scope,
    })) {
      for (const row of page) if (isEligible(row, plan.eligibility)) yield row;
    }
  }

  /** One pass: the eligible cells through the sliding window, as wide as the provider allows. */
  async #generatePass(plan: PassPlan) {
    await this.#readConcurrency();
    const schedule = this.#deps.scheduler ?? slidingWindow;
    return schedule({
      items: this.#claimCells(plan),
      concurrency: () => this.#concurrency().window,
      run: (row: ScannedRow) => this.#generateCell(row, plan),
      signal: this.#stopScheduling.signal,
    });
  }

  /**
   * After a pass: wait out a rate limit (an edit of the process meanwhile does not cut the
   * wait short) or take up an edited process; true when another pass follows.
   */
  async #nextPass(exhausted: boolean): Promise<boolean> {
    if (
      this.#stopReason === 'rate-limit' ||
      (this.#stopReason === 'restart' && this.#rateLimit.remaining() > 0)
    ) {
      this.#stopReason = undefined;
      await this.#waitOutRateLimit();
      if (this.#stopReason === 'restart') this.#stopReason = undefined;
      return this.#stopReason === undefined;
    }
    if (this.#stopReason === 'restart') {
      this.#stopReason = undefined;
      return true;
    }
    // The window stopped short without a stop asked for: go on with what is left.
    return !exhausted && this.#stopReason === undefined;
  }

  /** A cell: marked generating, its prompt built, the model asked, the answer committed. */
  async #generateCell(row: ScannedRow, plan: PassPlan): Promise<void> {
    const current = plan.snapshot;
    this.#inFlight++;
    const ticket: CellTicket = this.#committer.begin(
      BigInt(row.rowId),
      row.cell.version,
      { state: { status: 'generating', error: null } },
      // Marked stale (or restored) by the system since it was read: still ours to fill.
      // A person's edit changes the value or validates the cell, and wins.
      (now) =>
        !now.state.validated &&
        now.state.status !== 'generating' &&
        JSON.stringify(now.value) === JSON.stringify(row.cell.value),
    );
    const cellAbort = new AbortController();
    const signal = AbortSignal.any([this.#abortCalls.signal, cellAbort.signal]);
    ticket.onLost(() => cellAbort.abort('lost'));
    const inputHash = inputHashOf(current.inputs, row.values);
    try {
      const { prompt, sources, searchNote } = await this.#buildPrompt(row, plan, signal);
      const answer = await this.#ask(row, plan, prompt, signal, searchNote ?? null);
      const note = answer.note;
      const provenance = {
        validated: false,
        inputHash,
        promptHash: current.promptHash,
        model: answer.result.model,
        inputTokens: inputTokensOf(answer.result),
        outputTokens: answer.result.usage.outputTokens ?? null,
        costNanoUsd: answer.result.costNano,
        latencyMs: answer.result.latencyMs,
        attempts: answer.attempts,
        sources: sources ? JSON.stringify(sources) : null,
      };
      const parsed = answer.parsed;
      // Made with a prompt that changed meanwhile: kept, and shown as stale.
      const fresh = current.promptHash === this.#snapshot!.promptHash;
      this.#committer.finish(
        ticket,
        parsed.ok
          ? {
              value: parsed.value as CellValue,
              state: { ...provenance, status: fresh ? 'done' : 'stale', error: note, raw: null },
            }
          : { state: { ...provenance, status: 'error', error: parsed.error, raw: parsed.raw } },
      );
      if (!parsed.ok) this.#lastError = { code: 'PROVIDER_ERROR', message: parsed.error };
    } catch (error) {
      this.#failed(ticket, row, error, signal, inputHash, current);
    } finally {
      this.#inFlight--;
    }
  }

  /** The cell's prompt: its rendered template, search sources, few-shot examples, variety. */
  async #buildPrompt(row: ScannedRow, plan: PassPlan, signal: AbortSignal) {
    const current = plan.snapshot;
    const rendered = renderTemplate(current.template, row.values);
    let sources: SearchSource[] | undefined;
    let searchNote: string | undefined;
    if (current.search?.enabled) {
      const query = current.search.query
        ? renderTemplate(current.search.query, row.values)
        : rendered;
      const outcome = await this.#deps.search.search(query, signal);
      if (outcome.ok) sources = outcome.sources;
      else {
        this.#delta.searchFailures++;
        searchNote = `Generated without sources: ${outcome.reason}`;
      }
    }
    const examples = plan.pool.select(rendered, {
      k: this.#deps.config.fewShotK,
      tokenBudget: this.#deps.config.fewShotTokens,
      excludeRowId: row.rowId,
    }).examples;
    const prompt = cellPrompt(current, row.values, {
      rendered,
      examples,
      sources,
      seed: current.diversity ? diversitySeed(current.processId, row.rowId) : undefined,
    });
    return { prompt, sources, searchNote };
  }

  /**
   * Asks the model; a near-duplicate of another row is asked once more to differ from it. The
   * cell's note: a near-duplicate left as one, else `note` (search failed), else a cut answer.
   */
  async #ask(
    row: ScannedRow,
    plan: PassPlan,
    prompt: Prompt,
    signal: AbortSignal,
    searchNote: string | null,
  ) {
    const current = plan.snapshot;
    const duplicates = plan.duplicates;
    let { text, result } = await this.#callModel(row, plan, prompt, signal, plan.cache);
    let parsed = parseAnswer(current.output, { text, output: result.output });
    let attempts = result.attempts;
    let note = searchNote;
    if (parsed.ok && duplicates && typeof parsed.value === 'string') {
      let match = duplicates.find(parsed.value, row.rowId);
      if (match) {
        const retry = await this.#callModel(
          row,
          plan,
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
          this.#delta.duplicates++;
          note = `Near-duplicate of row ${match.key}`;
        }
      }
      if (parsed.ok && typeof parsed.value === 'string') duplicates.add(row.rowId, parsed.value);
    }
    if (!note && result.finishReason === 'length' && parsed.ok)
      note = 'The answer was cut at the output token limit';
    return { parsed, result, attempts, note };
  }

  async #callModel(
    row: ScannedRow,
    plan: PassPlan,
    prompt: Prompt,
    signal: AbortSignal,
    cacheMode: 'use' | 'bypass',
  ): Promise<{ text: string; result: LlmCallResult }> {
    const { llm } = this.#deps;
    const current = plan.snapshot;
    let text = '';
    let result: LlmCallResult | undefined;
    const request = {
      projectId: this.#run.project_id,
      userId: this.#run.created_by ?? undefined,
      feature: 'sheet-cell',
      entityIds: {
        datasetId: this.#run.dataset_id,
        columnId: this.#columnId,
        rowId: row.rowId,
        runId: this.#run.id,
      },
      ...(current.provider ? { provider: current.provider } : {}),
      model: current.model,
      messages: buildMessages(prompt),
      parameters: current.parameters,
      outputSchema: plan.outputSchema,
      signal,
      cache: cacheMode,
    };
    try {
      if (plan.outputSchema === undefined) {
        // Free text cannot be invalid: one upstream response, no per-chunk work (a streamed
        // call costs several times the CPU of a plain one per answer).
        result = await llm.generate(request);
      } else {
        // Structured output is streamed so the model's raw text survives a parse failure and
        // is kept on the cell.
        for await (const event of llm.stream(request)) {
          if (event.type === 'text-delta') text += event.text;
          else if (event.type === 'attempt-restart') text = '';
          else if (event.type === 'finish') result = event.result;
        }
      }
    } catch (error) {
      if (error instanceof AppError) (error as AppError & { rawText?: string }).rawText = text;
      throw error;
    }
    if (!result) throw new AppError('PROVIDER_UNAVAILABLE', 'The call ended without an answer');
    const inputTokens = inputTokensOf(result) ?? 0;
    const outputTokens = result.usage.outputTokens ?? 0;
    const cost = result.costNano ?? 0;
    this.#delta.inputTokens += inputTokens;
    this.#delta.outputTokens += outputTokens;
    this.#delta.costNano += cost;
    this.#totals.inputTokens += inputTokens;
    this.#totals.outputTokens += outputTokens;
    this.#totals.costNano += cost;
    if (result.cacheHit) {
      this.#delta.cacheHits++;
      this.#totals.cacheHits++;
    }
    return { text: result.text || text, result };
  }

  /**
   * A call failed. Stopped: the cell goes back as it was. A budget ran out: back too, and the
   * run pauses. Still rate limited after the router's retries: not the cell's fault — back as it
   * was (no attempt spent), and the run waits, then carries on with it, so a storm never turns
   * into failed cells. Anything else is the cell's error (data: status, message, raw text).
   */
  #failed(
    ticket: CellTicket,
    row: ScannedRow,
    error: unknown,
    signal: AbortSignal,
    inputHash: string,
    current: ProcessSnapshot,
  ): void {
    if (signal.aborted) {
      this.#committer.restore(ticket, previousChange(row));
      return;
    }
    if (isAppError(error) && error.code === 'BUDGET_EXCEEDED') {
      this.#committer.restore(ticket, previousChange(row));
      this.stop('budget', error);
      return;
    }
    if (isAppError(error) && error.code === 'RATE_LIMITED') {
      this.#committer.restore(ticket, previousChange(row));
      this.#rateLimit.refused(rateLimitNotice(error));
      this.stop('rate-limit');
      return;
    }
    const raw = (error as { rawText?: string }).rawText;
    const details = isAppError(error) ? error.details : undefined;
    if (!isAppError(error))
      this.#log.error({ err: error, rowId: row.rowId }, 'cell generation failed');
    const message = cellError(error);
    this.#lastError = { code: isAppError(error) ? error.code : 'INTERNAL', message };
    this.#committer.finish(ticket, {
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

  // — commit —

  /** The committer's word on a cell (written, error written, or lost to a person's edit). */
  #committed(outcome: Parameters<Parameters<typeof createCommitter>[0]['onOutcome']>[0]): void {
    const delta = this.#delta;
    const totals = this.#totals;
    switch (outcome.kind) {
      case 'applied':
        if (outcome.state.status === 'error') {
          delta.errors++;
          totals.errors++;
        } else {
          delta.done++;
          totals.done++;
          this.#rateLimit.passed();
        }
        this.#deps.onCommitLatency?.(Date.now() - outcome.enqueuedAt);
        this.#countOutcome(outcome.rowId);
        break;
      case 'mark-lost':
      case 'conflict':
        // A lost mark and its dropped result are one conflict.
        if (!this.#lostCounted.has(outcome.rowId)) {
          this.#lostCounted.add(outcome.rowId);
          delta.conflicts++;
          totals.conflicts++;
          this.#countOutcome(outcome.rowId);
        }
        break;
      default:
        break;
    }
    // One insert per committed batch (its outcomes arrive together), not per cell.
    if (!this.#saveScheduled) {
      this.#saveScheduled = true;
      setImmediate(() => {
        this.#saveScheduled = false;
        void this.#saveCompletedRows();
      });
    }
  }

  #countOutcome(rowId: string): void {
    this.#processedTimes.push(Date.now());
    this.#completedRows.push(rowId);
  }

  /** Records the rows finished since the last save: what a resumed run skips. */
  #saveCompletedRows(): Promise<void> {
    if (this.#completedRows.length === 0) return this.#savingCells;
    const rows = this.#completedRows.splice(0);
    this.#savingCells = this.#savingCells.then(() =>
      this.#deps.store.addRunCells(this.#run.id, rows).catch((error: unknown) => {
        this.#log.warn({ err: error }, 'could not record finished cells of a run');
      }),
    );
    return this.#savingCells;
  }

  #processed(): number {
    return this.#totals.done + this.#totals.errors + this.#totals.conflicts;
  }

  // — rate limits —

  /**
   * Waits until the provider's Retry-After has passed (generation-rate-limit.ts), saying so on
   * the run, then lets the loop start a new pass: the cells handed back are eligible again and
   * those finished are skipped. Cancel, pause, a budget stop or shutdown end the wait at once.
   * The run stays `running` and keeps its lease throughout, so a crash while waiting is
   * recovered like any running run.
   */
  async #waitOutRateLimit(): Promise<void> {
    const { store } = this.#deps;
    const until = this.#rateLimit.until;
    const by = this.#rateLimit.last;
    const provider = this.#providerConcurrency;
    const name = provider?.providerRef === by?.provider ? provider?.providerName : undefined;
    const untilIso = new Date(until).toISOString();
    this.#waiting = {
      reason: 'rate-limited',
      until: untilIso,
      provider: by?.provider ?? null,
      providerName: name ?? null,
      message: `Rate limited by ${name ?? 'the provider'}, retrying at ${untilIso.slice(11, 19)} UTC${
        by?.message ? ` (${by.message.slice(0, 300)})` : ''
      }`,
    };
    this.#log.info({ until: untilIso }, 'generation run rate limited; waiting');
    await store.updateRun(this.#run.id, { waiting: this.#waiting }).catch(() => {});
    this.#publishProgress('running', true);
    const delay = this.#rateLimit.remaining();
    if (delay > 0)
      await sleep(delay, undefined, { signal: this.#abortWait.signal }).catch(() => {});
    this.#rateLimit.waited();
    this.#waiting = undefined;
    await store.updateRun(this.#run.id, { waiting: null }).catch(() => {});
    this.#publishProgress('running', true);
  }

  /** The provider's cap and adaptive limit, read each pass and each beat. */
  async #readConcurrency(): Promise<void> {
    const { llm } = this.#deps;
    const snapshot = this.#snapshot;
    if (!llm.concurrency || !snapshot) return;
    try {
      this.#providerConcurrency = await llm.concurrency(
        this.#run.project_id,
        snapshot.provider,
        snapshot.model,
      );
    } catch {
      this.#providerConcurrency = undefined; // the calls themselves will say what is wrong
    }
  }

  /** The run's window: the provider's cap, within the server's. */
  #concurrency(): RunConcurrency {
    const serverCap = this.#deps.config.concurrency;
    const cap = this.#providerConcurrency?.cap;
    const window = cap === undefined ? serverCap : Math.min(serverCap, cap);
    const limit = this.#providerConcurrency?.limit;
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

  // — heartbeat and progress —

  /**
   * Every second: saves the counters (only while this process holds the lease), takes up a
   * process edit or deletion, re-reads the provider's cap, publishes progress. The engine's
   * own heartbeat renews the lease and reads the cancel/pause flags.
   */
  async #heartbeat(): Promise<void> {
    const { store } = this.#deps;
    const now = Date.now();
    this.#delta.activeMs += now - this.#lastBeat;
    this.#lastBeat = now;
    const sent = this.#delta;
    this.#delta = emptyCounters();
    try {
      const row = await store.addCounters(this.#run.id, this.#deps.owner, sent);
      if (!row) {
        this.stop('lease-lost');
        return;
      }
      this.#context.count({ done: sent.done, errors: sent.errors, conflicts: sent.conflicts });
    } catch (error) {
      // Counters come back next beat; a database hiccup must not kill the run.
      for (const key of Object.keys(sent) as (keyof RunCounters)[]) this.#delta[key] += sent[key];
      this.#log.warn({ err: error }, 'generation heartbeat failed');
      return;
    }
    try {
      const process = await store.findProcessByColumn(this.#columnId);
      if (!process) this.stop('cancel');
      else if (process.version !== this.#processVersion) this.#reloadRequested = true;
    } catch {
      // next beat
    }
    if (this.#reloadRequested) this.stop('restart');
    await this.#readConcurrency();
    this.#publishProgress();
  }

  #publishProgress(status = 'running', force = false): void {
    const now = Date.now();
    if (!force && now - this.#lastProgress < PROGRESS_EVENT_MS) return;
    this.#lastProgress = now;
    const totals = this.#totals;
    this.#deps.events.publish(datasetStream(this.#run.dataset_id), {
      type: 'run-progress',
      data: {
        runId: this.#run.id,
        columnId: this.#columnId,
        status,
        total: this.#total,
        done: totals.done,
        errors: totals.errors,
        conflicts: totals.conflicts,
        cacheHits: totals.cacheHits,
        inputTokens: totals.inputTokens,
        outputTokens: totals.outputTokens,
        costNano: totals.costNano,
        waiting: this.#waiting ?? null,
        ...this.live(),
      },
      coalesceKey: `run:${this.#run.id}`,
    });
  }

  // — settle —

  /**
   * Saves the last counters and what the view should say (a budget stop, "Finished with N
   * errors"), then tells the engine how the execution ended: it returns (completed) or throws
   * (failed, or a RunStopped); the engine settles the durable run and the run use cases bring
   * the view in line (settleRun).
   */
  async #settle(stopReason: StopReason | undefined, failure: unknown): Promise<void> {
    const { store } = this.#deps;
    const run = this.#run;
    this.#delta.activeMs += Date.now() - this.#lastBeat;
    if (stopReason === 'lease-lost') {
      this.#log.warn('lost the lease of a generation run; another server continues it');
      throw new RunStopped('lease-lost');
    }
    const saved = await store
      .addCounters(run.id, this.#deps.owner, this.#delta)
      .catch(() => undefined);
    await store.updateRun(run.id, { waiting: null });
    if (failure !== undefined) {
      if (!isAppError(failure)) this.#log.error({ err: failure }, 'generation run failed');
      throw failure;
    }
    if (stopReason === 'cancel') throw new RunStopped('cancelled');
    if (stopReason === 'shutdown') throw new RunStopped('shutdown');
    if (stopReason === 'pause') {
      await store.updateRun(run.id, { error: null });
      throw new RunStopped('paused', 'user');
    }
    if (stopReason === 'budget') {
      await store.updateRun(run.id, {
        error: {
          code: 'BUDGET_EXCEEDED',
          message: this.#stopError?.message ?? 'A budget is exhausted',
        },
      });
      throw new RunStopped('paused', 'budget');
    }
    // Finished, but not all well: the run says so (not a green "Done") and what went wrong.
    const errors = saved?.errors ?? 0;
    const last = this.#lastError;
    await store.updateRun(run.id, {
      error:
        errors > 0
          ? {
              code: last?.code ?? 'PROVIDER_ERROR',
              message: `Finished with ${errors} ${errors === 1 ? 'error' : 'errors'}${
                last ? `; last: ${last.message}` : ''
              }`.slice(0, 2_000),
              details: { errors },
            }
          : null,
    });
    this.#log.info('generation run finished');
  }
}
