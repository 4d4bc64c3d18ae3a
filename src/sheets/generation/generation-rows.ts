import { setTimeout as sleep } from 'node:timers/promises';
import type { Actor } from '../../access/actor.ts';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import { systemActor } from '../../auth/system-actor.ts';
import type { LlmMessage } from '../../llm/llm-provider.ts';
import type { LlmService } from '../../llm/llm-service.ts';
import { estimateInputTokens } from '../../llm/llm-tokens.ts';
import { type AppError, isAppError, validationError } from '../../platform/app-error.ts';
import type { GenerationConfig } from '../../platform/config.ts';
import type { EventBus } from '../../platform/events.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { type RunContext, RunStopped, type StepRecord } from '../../platform/jobs/durable-run.ts';
import type { Logger } from '../../platform/logger.ts';
import type { CellValue, ColumnType } from '../sheet-schema.ts';
import { datasetStream, type SheetService } from '../sheet-service.ts';
import type { ColumnRow } from '../sheet-store.ts';
import { DuplicateIndex } from './generation-dedupe.ts';
import { beginExecution } from './generation-execution.ts';
import type { GenerationRunInput } from './generation-job.ts';
import { compileJsonSchema } from './generation-output.ts';
import { presentRun } from './generation-presenter.ts';
import { RateLimitWait, rateLimitNotice } from './generation-rate-limit.ts';
import {
  type ActiveRuns,
  followEngine,
  inputTokensOf,
  type RunWaiting,
  type StopReason,
} from './generation-runner.ts';
import { slidingWindow } from './generation-scheduler.ts';
import { type GenerateRowsInput, generateRowsSchema } from './generation-schema.ts';
import type { GenerationStore, RunRow } from './generation-store.ts';
import { sha256 } from './prompt-template.ts';

/**
 * N new rows from a description alone. Every row is its own call, all in parallel through the
 * sliding window (never one call at a time feeding every earlier answer back in, as the seed
 * system did): each gets a seed and its position, the model answers one JSON object for the
 * chosen columns; an invalid answer or a near-duplicate of a row already made is asked again
 * (a bounded number of times), and a row still not made is reported. Rows are appended in
 * small batches as they come.
 */
export interface RowsScope {
  description: string;
  count: number;
  columnIds: string[];
  provider: string | undefined;
  model: string;
  parameters: Record<string, unknown>;
}

const JSON_TYPE: Record<ColumnType, Record<string, unknown>> = {
  text: { type: 'string' },
  integer: { type: 'integer' },
  number: { type: 'number' },
  boolean: { type: 'boolean' },
  date: { type: 'string', format: 'date' },
  timestamp: { type: 'string', format: 'date-time' },
  json: {},
  image: { type: 'null' },
};

/** The object one call answers: a property per column, by column name. */
export function rowSchema(columns: readonly ColumnRow[]): Record<string, unknown> {
  return {
    type: 'object',
    properties: Object.fromEntries(columns.map((column) => [column.name, JSON_TYPE[column.type]])),
    required: columns.map((column) => column.name),
    additionalProperties: false,
  };
}

export function rowMessages(
  scope: RowsScope,
  columns: readonly ColumnRow[],
  index: number,
  avoid: readonly string[],
): LlmMessage[] {
  const seed = sha256(`${scope.description}:${index}`).slice(0, 8);
  let user = `${scope.description}\n\nColumns: ${columns.map((column) => `${column.name} (${column.type})`).join(', ')}.\nThis is row ${index + 1} of ${scope.count} (seed ${seed}): make it different from the other rows.`;
  if (avoid.length > 0)
    user += `\nDo not repeat or closely resemble: ${avoid.map((text) => JSON.stringify(text.slice(0, 200))).join('; ')}`;
  return [
    {
      role: 'system',
      content:
        'You invent one row of a table at a time. Answer with one JSON object whose keys are the column names.',
    },
    { role: 'user', content: user },
  ];
}

/** Calls per requested row before it is reported as failed. */
export const ROW_ATTEMPTS = 3;
/** Failed rows listed in a run's result (its `errors` count covers them all). */
const LISTED_FAILURES = 100;

/** A requested row that was not made: its 1-based number in the run, the calls made, why. */
export interface RowFailure {
  row: number;
  attempts: number;
  reason: string;
}

type RowAnswer = { ok: true; row: Record<string, unknown> } | { ok: false; reason: string };

/**
 * Worth asking again: an answer the provider's structured output could not parse. A transport
 * failure is not: the LLM router already retried it (one retry loop, docs/llm.md), and asking
 * again would multiply its attempts; rate limiting is waited out apart (the row keeps its
 * attempts). Others (a refused key, an unknown model, a rejected request) would repeat.
 */
function isRowRetryable(error: unknown): boolean {
  if (!isAppError(error)) return false;
  const reason = (error.details as { reason?: unknown } | undefined)?.reason;
  return reason === 'invalid-output';
}

function failuresOf(run: RunRow): RowFailure[] {
  const details = (run.error as { details?: { failedRows?: unknown } } | null)?.details;
  return Array.isArray(details?.failedRows) ? (details.failedRows as RowFailure[]) : [];
}

/** The run's `error` while rows failed: how many of the requested, and the first of them. */
function failureSummary(total: number, errors: number, failures: readonly RowFailure[]) {
  if (errors === 0) return null;
  return {
    code: 'PROVIDER_ERROR',
    message: `${errors} of ${total} rows could not be generated (after up to ${ROW_ATTEMPTS} attempts each)`,
    details: { failedRows: failures },
  };
}

/** A rows run's counts after an appended batch: the output of its `batch-N` step. */
interface BatchCounts {
  done: number;
  errors: number;
  duplicates: number;
  inputTokens: number;
  outputTokens: number;
  costNano: number;
  error: ReturnType<typeof failureSummary>;
}

const columnsOf = (all: readonly ColumnRow[], ids: readonly string[] | undefined) => {
  const statics = all.filter((column) => column.kind === 'static');
  const chosen = ids ? ids.map((id) => statics.find((column) => column.id === id)) : statics;
  if (chosen.length === 0 || chosen.some((column) => column === undefined))
    throw validationError('Choose static columns of this dataset to fill', [
      { path: 'columnIds', message: 'unknown or not a static column' },
    ]);
  return chosen as ColumnRow[];
};

/** The columns a rows run fills, the schema of one answer and its validator. */
interface RowShape {
  chosen: ColumnRow[];
  schema: Record<string, unknown>;
  validator: ReturnType<typeof compileJsonSchema>;
}

/** The text two rows are compared by for near-duplicates. */
const signature = (row: Record<string, unknown>) =>
  Object.values(row)
    .map((value) => (typeof value === 'string' ? value : JSON.stringify(value)))
    .join(' | ');

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

export function createRowsGeneration(deps: RowsGenerationDeps) {
  const { store, sheets, access, audit } = deps;

  /** Starts generating rows (a durable run, like a column's); returns at once. */
  async function generateRows(
    actor: Actor,
    projectId: string,
    datasetId: string,
    input: GenerateRowsInput,
  ) {
    await access.requireRole(actor, projectId, 'editor');
    const parsed = generateRowsSchema.parse(input);
    const { columns } = await sheets.requireDataset(actor, projectId, datasetId, 'editor');
    const chosen = columnsOf(columns, parsed.columnIds);
    const scope: RowsScope = {
      description: parsed.description,
      count: parsed.count,
      columnIds: chosen.map((column) => column.id),
      provider: parsed.provider,
      model: parsed.model,
      parameters: parsed.parameters,
    };
    const schema = rowSchema(chosen);
    const inputTokens = await estimateInputTokens(rowMessages(scope, chosen, 0, []), schema, {
      safety: false,
    });
    const estimate = {
      cells: parsed.count,
      inputTokensPerCell: inputTokens,
      inputTokens: inputTokens * parsed.count,
    };
    const run = await store.transaction(async (trx) => {
      const inserted = await store.insertRun(
        {
          id: uuidv7(),
          project_id: projectId,
          dataset_id: datasetId,
          column_id: null,
          kind: 'rows',
          mode: 'rows',
          scope: JSON.stringify(scope),
          status: 'queued',
          estimate: JSON.stringify(estimate),
          total: parsed.count,
          created_by: actor.via === 'system' ? null : actor.userId,
        },
        trx,
      );
      await audit.record(trx, {
        actor,
        action: 'generation-run.create',
        entityType: 'generation_run',
        entityId: inserted.id,
        projectId,
        summary: { kind: 'rows', count: parsed.count },
      });
      return inserted;
    });
    await deps.queue(run);
    return presentRun(run);
  }

  /** The `sheets.generate-rows` kind's execute (generation-job.ts): one RowsRun. */
  async function executeRowsRun(context: RunContext<GenerationRunInput>): Promise<void> {
    const run = await RowsRun.resume(deps, context);
    await new RowsRun(deps, run, context).execute();
  }

  return { generateRows, executeRowsRun };
}

export type RowsGeneration = ReturnType<typeof createRowsGeneration>;

/**
 * One execution of a generate-rows run (the engine holds its lease). It makes what is left
 * (`total - done - errors`), every row its own call through the sliding window: `makeRow` asks
 * up to ROW_ATTEMPTS times — an answer that does not fit the row's schema, or a near-duplicate
 * of a row already made (asked again to differ from it), is asked again; a transport failure is
 * not (the LLM router is the one retry loop), except rate limiting, which the row waits out
 * (`waitOutRateLimit`) without spending an attempt. Made rows are appended every 100 ms as a
 * checkpointed step (`appendBatch`); a row still not made is counted in `errors` and listed in
 * the run's result, never silently left out. `settle` tells the engine how it ended.
 */
class RowsRun {
  readonly #deps: RowsGenerationDeps;
  readonly #run: RunRow;
  readonly #context: RunContext<GenerationRunInput>;
  readonly #log: Logger;
  readonly #actor = systemActor();
  readonly #scope: RowsScope;
  readonly #stopScheduling = new AbortController();
  readonly #abortCalls = new AbortController();
  /** Ends a rate-limit wait: any stop. */
  readonly #stopped: AbortSignal;
  #stopReason: StopReason | undefined;
  #stopError: AppError | undefined;
  /** Saved with each appended batch: a resumed run starts from what was saved. */
  readonly #counts: Omit<BatchCounts, 'error'>;
  readonly #failures: RowFailure[];
  #inFlight = 0;
  #batch: number;
  readonly #rateLimit = new RateLimitWait();
  #announced: RunWaiting | undefined;
  #pending: Record<string, CellValue>[] = [];
  #changed = false;
  #appending: Promise<void> = Promise.resolve();

  /**
   * The run as its last finished batch left it (each batch's step output is the run's counts
   * after it, so a resumed run never makes that batch's rows again), marked running.
   */
  static async resume(
    deps: RowsGenerationDeps,
    context: RunContext<GenerationRunInput>,
  ): Promise<RunRow & { batches: number }> {
    let batches = 0;
    const run = await beginExecution(deps, context, 'rows', async (found) => {
      const completed = (await deps.steps(found.id)).filter(
        (step) => step.key.startsWith('batch-') && step.status === 'completed',
      );
      batches = completed.length;
      const last = completed.at(-1)?.output as BatchCounts | undefined;
      return last
        ? {
            done: last.done,
            errors: last.errors,
            duplicates: last.duplicates,
            input_tokens: last.inputTokens,
            output_tokens: last.outputTokens,
            cost_nano: last.costNano,
            error: last.error,
          }
        : {};
    });
    return { ...run, batches };
  }

  constructor(
    deps: RowsGenerationDeps,
    run: RunRow & { batches: number },
    context: RunContext<GenerationRunInput>,
  ) {
    this.#deps = deps;
    this.#run = run;
    this.#context = context;
    this.#batch = run.batches;
    this.#log = deps.logger.child({ runId: run.id, datasetId: run.dataset_id });
    this.#scope = run.scope as RowsScope;
    this.#stopped = AbortSignal.any([this.#abortCalls.signal, this.#stopScheduling.signal]);
    this.#counts = {
      done: run.done,
      errors: run.errors,
      duplicates: run.duplicates,
      inputTokens: Number(run.input_tokens),
      outputTokens: Number(run.output_tokens),
      costNano: Number(run.cost_nano),
    };
    this.#failures = failuresOf(run);
  }

  async execute(): Promise<void> {
    const deps = this.#deps;
    const run = this.#run;
    deps.active.set(run.id, {
      stop: (reason, error) => this.#stop(reason, error),
      live: () => ({ inFlight: this.#inFlight, cellsPerSecond: 0, etaSeconds: null }),
      reloadProcess: () => {},
    });
    // The engine holds the lease and reads the cancel/pause flags; its stop is ours.
    followEngine(this.#context.signal, (reason) => this.#stop(reason));
    const flushTimer = setInterval(
      () =>
        void this.#appendBatch().catch((error: unknown) => this.#stop('cancel', error as AppError)),
      100,
    );
    flushTimer.unref();
    let failure: unknown;
    try {
      const { columns } = await deps.sheets.requireDataset(
        this.#actor,
        run.project_id,
        run.dataset_id,
        'editor',
      );
      const chosen = columnsOf(columns, this.#scope.columnIds);
      const schema = rowSchema(chosen);
      const shape = { chosen, schema, validator: compileJsonSchema(schema, 'row') };
      const seen = new DuplicateIndex();
      const first = run.done + run.errors;
      const last = Math.max(first, run.total);
      async function* indices() {
        for (let index = first; index < last; index++) yield index;
      }
      await slidingWindow({
        items: indices(),
        concurrency: () => deps.config.concurrency,
        signal: this.#stopScheduling.signal,
        run: (index) => this.#makeRow(index, shape, seen),
      });
      await this.#appendBatch();
    } catch (error) {
      // A stop seen by the last batch's step is the stop itself, not a failure.
      if (!(error instanceof RunStopped)) failure = error;
    } finally {
      clearInterval(flushTimer);
      await this.#appending.catch(() => {});
      deps.active.delete(run.id);
    }
    await this.#settle(failure);
  }

  /** First stop wins. A budget stop lets the calls in flight finish; the others abort them. */
  #stop(reason: StopReason, error?: AppError): void {
    if (this.#stopReason) return;
    this.#stopReason = reason;
    this.#stopError = error;
    this.#stopScheduling.abort(reason);
    if (reason !== 'budget') this.#abortCalls.abort(reason);
  }

  /** One requested row: asked until it is made or its attempts are spent. */
  async #makeRow(index: number, shape: RowShape, seen: DuplicateIndex): Promise<void> {
    this.#inFlight++;
    const avoid: string[] = [];
    let reason = '';
    let duplicate = false;
    let attempts = 0;
    try {
      while (attempts < ROW_ATTEMPTS) {
        attempts++;
        let answer: RowAnswer;
        try {
          answer = await this.#ask(index, avoid, shape);
        } catch (error) {
          // Cancelled or paused: the row is not counted, so a resumed run makes it.
          if (this.#abortCalls.signal.aborted) return;
          if (isAppError(error) && error.code === 'BUDGET_EXCEEDED') {
            this.#stop('budget', error);
            return;
          }
          if (isAppError(error) && error.code === 'RATE_LIMITED') {
            attempts--; // the provider's limit, not the row: its attempts are untouched
            await this.#waitOutRateLimit(error);
            if (this.#stopped.aborted) return;
            continue;
          }
          if (!isAppError(error)) this.#log.error({ err: error, index }, 'a generated row failed');
          reason = isAppError(error)
            ? `${error.code}: ${error.message}`
            : 'INTERNAL: generation failed';
          duplicate = false;
          if (isRowRetryable(error)) continue;
          break;
        }
        if (!answer.ok) {
          reason = answer.reason;
          duplicate = false;
          continue;
        }
        const match = seen.find(signature(answer.row));
        if (match) {
          // Asked again to differ from every row it resembled so far.
          reason = 'A near-duplicate of another generated row';
          duplicate = true;
          avoid.push(match.text);
          continue;
        }
        seen.add(String(index), signature(answer.row));
        const row = answer.row;
        this.#pending.push(
          Object.fromEntries(
            shape.chosen.map((column) => [column.id, row[column.name] as CellValue]),
          ),
        );
        return;
      }
      if (this.#stopReason !== undefined && this.#stopReason !== 'budget') return;
      this.#counts.errors++;
      if (duplicate) this.#counts.duplicates++;
      if (this.#failures.length < LISTED_FAILURES)
        this.#failures.push({ row: index + 1, attempts, reason: reason.slice(0, 500) });
      this.#changed = true;
    } finally {
      this.#inFlight--;
    }
  }

  /** One call for row `index`; its answer checked against the chosen columns. */
  async #ask(index: number, avoid: string[], shape: RowShape): Promise<RowAnswer> {
    const run = this.#run;
    const scope = this.#scope;
    const result = await this.#deps.llm.generate({
      projectId: run.project_id,
      userId: run.created_by ?? undefined,
      feature: 'sheet-rows',
      entityIds: { datasetId: run.dataset_id, runId: run.id, row: String(index) },
      ...(scope.provider ? { provider: scope.provider } : {}),
      model: scope.model,
      messages: rowMessages(scope, shape.chosen, index, avoid),
      parameters: scope.parameters,
      outputSchema: shape.schema,
      signal: this.#abortCalls.signal,
      cache: 'off',
    });
    this.#counts.inputTokens += inputTokensOf(result) ?? 0;
    this.#counts.outputTokens += result.usage.outputTokens ?? 0;
    this.#counts.costNano += result.costNano ?? 0;
    this.#changed = true;
    this.#rateLimit.passed();
    const checked = shape.validator.safeParse(result.output);
    if (checked.success) return { ok: true, row: checked.data as Record<string, unknown> };
    const issue = checked.error.issues[0];
    return {
      ok: false,
      reason: `The answer does not fit the columns${issue ? ` (${[...issue.path].join('.') || 'row'}: ${issue.message})` : ''}`,
    };
  }

  /**
   * Rate limiting outlasting the router's retries: the row waits (its attempts untouched) until
   * the provider's Retry-After (generation-rate-limit.ts), and the run says so; the rows in
   * flight share the wait.
   */
  async #waitOutRateLimit(error: AppError): Promise<void> {
    const { store } = this.#deps;
    const run = this.#run;
    const notice = rateLimitNotice(error);
    const waitUntil = this.#rateLimit.refused(notice);
    if (!this.#announced || this.#announced.until < new Date(waitUntil).toISOString()) {
      const until = new Date(waitUntil).toISOString();
      const name = notice.providerName;
      const said = notice.message === error.message ? '' : notice.message;
      this.#announced = {
        reason: 'rate-limited',
        until,
        provider: notice.provider,
        providerName: name,
        message: `Rate limited by ${name ?? 'the provider'}, retrying at ${until.slice(11, 19)} UTC${
          said ? ` (${said.slice(0, 300)})` : ''
        }`,
      };
      await store.updateRun(run.id, { waiting: this.#announced }).catch(() => {});
      this.#publish();
    }
    const delay = this.#rateLimit.remaining();
    if (delay > 0) await sleep(delay, undefined, { signal: this.#stopped }).catch(() => {});
    this.#rateLimit.waited();
    if (this.#announced && this.#rateLimit.remaining() === 0) {
      this.#announced = undefined;
      await store.updateRun(run.id, { waiting: null }).catch(() => {});
    }
  }

  /**
   * Appends the rows made since the last batch, with the run's counts, as one checkpointed
   * step (`batch-N`): the counts move with the rows, so a resumed run never makes too many. A
   * batch interrupted mid-way (a crash between its rows and its checkpoint) is the one thing
   * redone: steps are at-least-once (docs/decisions/2026-12-06-durable-run-engine.md).
   */
  #appendBatch(): Promise<void> {
    if (this.#pending.length === 0 && !this.#changed) return this.#appending;
    const rows = this.#pending;
    this.#pending = [];
    this.#changed = false;
    const { store, sheets } = this.#deps;
    const run = this.#run;
    const counts = this.#counts;
    this.#appending = this.#appending.then(async () => {
      await this.#context.step(`batch-${++this.#batch}`, async (): Promise<BatchCounts> => {
        if (rows.length > 0) {
          await sheets.appendRows(this.#actor, run.project_id, run.dataset_id, rows);
          counts.done += rows.length;
        }
        const saved: BatchCounts = {
          ...counts,
          error: failureSummary(run.total, counts.errors, this.#failures),
        };
        await store.updateRun(run.id, {
          done: saved.done,
          errors: saved.errors,
          duplicates: saved.duplicates,
          input_tokens: saved.inputTokens,
          output_tokens: saved.outputTokens,
          cost_nano: saved.costNano,
          error: saved.error,
        });
        return saved;
      });
      this.#publish();
    });
    return this.#appending;
  }

  #publish(): void {
    const run = this.#run;
    this.#deps.events.publish(datasetStream(run.dataset_id), {
      type: 'run-progress',
      data: {
        runId: run.id,
        status: 'running',
        total: run.total,
        done: this.#counts.done,
        errors: this.#counts.errors,
        duplicates: this.#counts.duplicates,
        waiting: this.#announced ?? null,
      },
      coalesceKey: `run:${run.id}`,
    });
  }

  /**
   * How it ended goes to the engine (returned: completed; thrown: failed or stopped); the run
   * use cases then bring the view in line (settleRun), and tell viewers. Completed: `done` rows
   * made; the rows that could not be made are `errors`, listed.
   */
  async #settle(failure: unknown): Promise<void> {
    const { store } = this.#deps;
    const run = this.#run;
    const stopReason = this.#stopReason;
    await store.updateRun(run.id, { waiting: null });
    if (stopReason === 'lease-lost') throw new RunStopped('lease-lost');
    if (failure !== undefined) {
      if (!isAppError(failure)) this.#log.error({ err: failure }, 'row generation failed');
      throw failure;
    }
    if (stopReason === 'cancel') throw new RunStopped('cancelled');
    if (stopReason === 'shutdown') throw new RunStopped('shutdown');
    if (stopReason === 'pause' || stopReason === 'budget') {
      await store.updateRun(run.id, {
        error:
          stopReason === 'budget'
            ? {
                code: 'BUDGET_EXCEEDED',
                message: this.#stopError?.message ?? 'A budget is exhausted',
              }
            : failureSummary(run.total, this.#counts.errors, this.#failures),
      });
      throw new RunStopped('paused', stopReason === 'budget' ? 'budget' : 'user');
    }
  }
}
