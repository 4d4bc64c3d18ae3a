import type { AuditRecorder } from '../../audit/audit-service.ts';
import type { Actor } from '../../auth/actor.ts';
import { systemActor } from '../../auth/system-actor.ts';
import type { LlmModule } from '../../llm/llm-module.ts';
import {
  costNano,
  defaultCatalogProvider,
  type PriceSource,
  usdPerMtokToNano,
} from '../../llm/llm-prices.ts';
import { estimateInputTokens } from '../../llm/llm-tokens.ts';
import { conflict, isAppError, notFound, validationError } from '../../platform/app-error.ts';
import type { GenerationConfig } from '../../platform/config.ts';
import type { EventBus } from '../../platform/events.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { Logger } from '../../platform/logger.ts';
import type { ProjectAccess } from '../../projects/project-access.ts';
import type { CellValue } from '../sheet-schema.ts';
import { datasetStream, type SheetService } from '../sheet-service.ts';
import { type ColumnRow, isUniqueViolation } from '../sheet-store.ts';
import { cellMessages, diversitySeed, renderCellTemplate } from './cell-prompt.ts';
import { type Example, FewShotPool, MAX_POOL } from './few-shot.ts';
import {
  columnTypeFor,
  compileJsonSchema,
  exampleAnswer,
  type OutputSpec,
  outputSchemaFor,
} from './generation-output.ts';
import { presentRun } from './generation-presenter.ts';
import {
  dependencyGraph,
  nextAiReaders,
  type ProcessSnapshot,
  presentProcess,
  promptHashOf,
  refuseCycle,
  requireInputs,
  snapshotOf,
} from './generation-process.ts';
import type { Runner } from './generation-runner.ts';
import {
  type CreateAiColumnInput,
  createAiColumnSchema,
  type ParsedRunRequest,
  type PromptPreviewInput,
  promptPreviewSchema,
  type RunRequest,
  runRequestSchema,
  type SearchSettings,
  type UpdateProcessInput,
  updateProcessSchema,
} from './generation-schema.ts';
import {
  isEligible,
  isOutdated,
  markDoneCellsStale,
  type RunScope,
  type ScannedRow,
  scanRows,
} from './generation-scope.ts';
import type { GenerationStore, ProcessRow, RunRow } from './generation-store.ts';
import { inputHashOf, renderTemplate, storeTemplate, templateInputs } from './prompt-template.ts';

const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);
/** Stands for a column being created, in reference checks. */
const SELF = '00000000-0000-0000-0000-00000000self';

/** Modes that regenerate cells that may already be done: they skip the response cache. */
const REGENERATE_MODES: ReadonlySet<string> = new Set(['all', 'range', 'cells']);

/** Rows whose prompts are measured to estimate a run's input tokens. */
export const ESTIMATE_SAMPLE = 20;
/** Assumed when the column has no generated cells to learn from (see docs/ai-columns.md). */
const DEFAULT_LATENCY_MS = 2_000;
const DEFAULT_OUTPUT_TOKENS: Record<OutputSpec['type'], number> = {
  text: 150,
  number: 10,
  boolean: 8,
  category: 12,
  json: 300,
};
/** Tokens a search result adds to a prompt, on average. */
const TOKENS_PER_SOURCE = 90;

export interface RunEstimate {
  cells: number;
  /**
   * `bypass`: the run asks the model for every cell (a regenerate, or `fresh`); `use`: cells
   * whose current answer came from the same prompt and inputs are expected from the cache.
   */
  cache: 'use' | 'bypass';
  /** Cells the response cache is expected to answer: no cost, no wait (0 with `bypass`). */
  expectedCacheHits: number;
  /** Cells the model is expected to be asked for: what tokens, cost and duration count. */
  modelCalls: number;
  sampled: number;
  inputTokensPerCell: number;
  outputTokensPerCell: number;
  inputTokens: number;
  outputTokens: number;
  /** Null when the model's price is unknown. */
  costNano: number | null;
  durationSeconds: number;
  concurrency: number;
  /** Which limit sets `concurrency`: the provider connection's cap, or the server's. */
  concurrencyLimitedBy: 'provider' | 'server';
  confirmationRequired: boolean;
  confirmAboveNano: number;
  /** Validated cells found (few-shot candidates). */
  examplesAvailable: number;
  basis: { outputTokens: 'observed' | 'default'; latency: 'observed' | 'default' };
}

/** A draft prompt rendered for the first rows (see previewPrompt). */
export interface PromptPreview {
  rows: {
    rowId: string;
    /** 1-based, in row order. */
    position: number;
    messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
    /** Referenced columns that are empty in this row (they render as nothing). */
    missingColumns: string[];
  }[];
  /** What a run adds that the preview leaves out. */
  omitted: ('few-shot-examples' | 'search-results' | 'variety-note')[];
}

export interface GenerationServiceDeps {
  store: GenerationStore;
  sheets: SheetService;
  llm: Pick<LlmModule, 'admin'>;
  access: ProjectAccess;
  audit: AuditRecorder;
  events: EventBus;
  config: GenerationConfig;
  runner: Runner;
  logger: Logger;
  /** Queues a run's job; undefined where runs are executed directly (the CLI). */
  dispatch: ((runId: string) => Promise<void>) | undefined;
  /** Told when a dataset's processes change (the staleness tracker caches them). */
  onProcessesChanged?: (datasetId: string) => void;
}

/**
 * Cancels a run. One no runner holds (awaiting confirmation, queued, paused) ends at once and
 * lets go of its cells (`ended`); a running one is asked to stop, and its runner ends it within
 * a moment. `error` is kept on the run (why it was stopped). Undefined: it had already ended.
 */
export async function stopRun(
  deps: { store: GenerationStore; runner: Pick<Runner, 'stop'> },
  runId: string,
  error?: { code: string; message: string },
): Promise<{ run: RunRow; ended: boolean } | undefined> {
  const ended = await deps.store.transitionRun(
    runId,
    ['awaiting-confirmation', 'queued', 'paused'],
    {
      status: 'cancelled',
      finished_at: new Date(),
      lease_owner: null,
      lease_expires_at: null,
      ...(error ? { error } : {}),
    },
  );
  if (ended) {
    await deps.store.deleteRunCells(runId);
    return { run: ended, ended: true };
  }
  const running = await deps.store.transitionRun(runId, ['running'], {
    cancel_requested: true,
    ...(error ? { error } : {}),
  });
  if (!running) return undefined;
  deps.runner.stop(runId, 'cancel');
  return { run: running, ended: false };
}

/** AI columns: access check on the first line of each use case, then stores, then events. */
export function createGenerationService(deps: GenerationServiceDeps) {
  const { store, sheets, access, audit, events, config, runner } = deps;

  // loadColumn and loadRun begin with the access check (sheets.requireDataset), so a use
  // case that starts with one of them checks access first without a second round trip.
  const loadColumn = async (
    actor: Actor,
    projectId: string,
    datasetId: string,
    columnId: string,
    role: 'viewer' | 'editor',
  ) => {
    const { dataset, columns } = await sheets.requireDataset(actor, projectId, datasetId, role);
    const column = columns.find((candidate) => candidate.id === columnId);
    if (!column) throw notFound('column', columnId);
    const process = column.kind === 'ai' ? await store.findProcessByColumn(columnId) : undefined;
    if (!process || process.dataset_id !== datasetId) throw notFound('AI column', columnId);
    return { dataset, columns, column, process };
  };

  const loadRun = async (
    actor: Actor,
    projectId: string,
    datasetId: string,
    runId: string,
    role: 'viewer' | 'editor',
  ) => {
    await sheets.requireDataset(actor, projectId, datasetId, role);
    const run = await store.findRun(runId);
    if (!run || run.dataset_id !== datasetId || run.project_id !== projectId)
      throw notFound('run', runId);
    return run;
  };

  /** Template, search query and output checked; references resolved; cycles refused. */
  const prepare = async (
    fields: {
      prompt: string;
      instructions: string;
      provider: string | undefined | null;
      model: string;
      parameters: Record<string, unknown>;
      output: OutputSpec;
      search: SearchSettings | undefined | null;
    },
    columns: readonly ColumnRow[],
    datasetId: string,
    selfId: string | undefined,
    selfName?: string,
  ) => {
    // The new column itself (when creating) is listed so referring to it reads as a cycle.
    const named = [
      ...(selfId === undefined && selfName !== undefined ? [{ id: SELF, name: selfName }] : []),
      ...columns.map((column) => ({ id: column.id, name: column.name })),
    ];
    const template = storeTemplate(fields.prompt, named, 'prompt');
    const searchQuery = fields.search?.query
      ? storeTemplate(fields.search.query, named, 'search.query')
      : undefined;
    const self = selfId ?? SELF;
    if (template.inputs.includes(self) || searchQuery?.inputs.includes(self))
      throw validationError('The prompt may not refer to its own column', [
        { path: 'prompt', message: 'dependency cycle: refers to its own column' },
      ]);
    if (fields.output.type === 'json') compileJsonSchema(fields.output.schema);
    const inputs = [...new Set([...template.inputs, ...(searchQuery?.inputs ?? [])])];
    if (selfId) {
      const processes = await store.listProcesses(datasetId);
      const graph = dependencyGraph(columns, processes);
      refuseCycle(
        graph,
        selfId,
        inputs,
        new Map(columns.map((column) => [column.id, column.name])),
      );
    }
    const search = fields.search
      ? { enabled: fields.search.enabled, ...(searchQuery ? { query: searchQuery.stored } : {}) }
      : null;
    const promptHash = promptHashOf({
      template: template.stored,
      instructions: fields.instructions,
      provider: fields.provider,
      model: fields.model,
      parameters: fields.parameters,
      output: fields.output,
      search,
    });
    return { template: template.stored, inputs, search, promptHash };
  };

  /**
   * A provider named on a process must be one this project can use (its own, instance-wide or
   * env): another project's provider id is refused at creation, not at the first run.
   */
  async function requireUsableProvider(projectId: string, provider: string | null | undefined) {
    if (!provider) return;
    try {
      await deps.llm.admin.getProvider(systemActor(), projectId, provider);
    } catch (error) {
      if (isAppError(error) && error.code === 'NOT_FOUND')
        throw validationError('No such provider in this project', [
          { path: 'provider', message: 'not a provider of this project' },
        ]);
      throw error;
    }
  }

  // — estimates —

  async function priceFor(projectId: string, provider: string | undefined, model: string) {
    const actor = systemActor();
    let kind: string | undefined;
    let catalog: string | undefined;
    let maxConcurrency = config.concurrency;
    try {
      if (provider) {
        const view = await deps.llm.admin.getProvider(actor, projectId, provider);
        kind = view.kind;
        catalog = view.catalogProvider ?? undefined;
        maxConcurrency = view.maxConcurrency;
      } else {
        const list = await deps.llm.admin.listProviders(actor, projectId);
        const view = list.find(
          (candidate) =>
            candidate.enabled &&
            (candidate.models.length === 0 || candidate.models.includes(model)),
        );
        if (view) {
          kind = view.kind;
          catalog = view.catalogProvider ?? undefined;
          maxConcurrency = view.maxConcurrency;
        }
      }
    } catch {
      // An unknown provider: the price stays unknown; the run itself will say why it fails.
    }
    const now = new Date();
    const overrides = (await deps.llm.admin.listPrices(actor, projectId).catch(() => []))
      .filter((price) => price.model === model && new Date(price.validFrom) <= now)
      .sort((a, b) => (a.validFrom < b.validFrom ? 1 : -1));
    const override = overrides[0];
    const source: PriceSource = {
      catalogProviderId: catalog ?? (kind ? defaultCatalogProvider(kind) : undefined),
      override: override
        ? {
            inputNanoPerMtok: usdPerMtokToNano(override.inputUsdPerMtok ?? 0),
            outputNanoPerMtok: usdPerMtokToNano(override.outputUsdPerMtok ?? 0),
            cacheReadNanoPerMtok:
              override.cacheReadUsdPerMtok === null
                ? undefined
                : usdPerMtokToNano(override.cacheReadUsdPerMtok),
            cacheWriteNanoPerMtok:
              override.cacheWriteUsdPerMtok === null
                ? undefined
                : usdPerMtokToNano(override.cacheWriteUsdPerMtok),
          }
        : undefined,
      at: now,
    };
    return { source, maxConcurrency };
  }

  /**
   * One pass over the scope: how many cells a run would generate, a uniform sample of them
   * (reservoir), few-shot candidates, and what the column's generated cells cost so far.
   * Range positions (1-based, row order) are resolved to row ids on the way.
   */
  async function survey(
    snapshot: ProcessSnapshot,
    scope: RunScope,
    range?: { from: number; to: number },
  ) {
    const sample: ScannedRow[] = [];
    const candidates: { example: Example; at: string }[] = [];
    let cells = 0;
    let cacheHits = 0;
    let seen = 0;
    let ordinal = 0;
    let maxRowId: string | undefined;
    let outputTokens = 0;
    let outputSamples = 0;
    let latency = 0;
    let latencySamples = 0;
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
        if (row.cell.outputTokens !== null && row.cell.status === 'done') {
          outputTokens += row.cell.outputTokens;
          outputSamples++;
        }
        if (row.cell.latencyMs !== null && row.cell.status === 'done') {
          latency += row.cell.latencyMs;
          latencySamples++;
        }
        if (row.cell.validated && row.cell.value !== null && candidates.length < MAX_POOL * 4)
          candidates.push({
            example: {
              rowId: row.rowId,
              input: renderTemplate(snapshot.template, row.values),
              output: exampleAnswer(snapshot.output, row.cell.value),
            },
            at: row.cell.updatedAt ?? '',
          });
        const inRange = !range || (ordinal >= range.from && ordinal <= range.to);
        if (
          !inRange ||
          !isEligible(row, {
            ...context,
            scope: { ...resolved, mode: resolved.mode === 'range' ? 'all' : resolved.mode },
          })
        )
          continue;
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
        seen++;
        if (sample.length < ESTIMATE_SAMPLE) sample.push(row);
        else {
          const slot = Math.floor(Math.random() * seen);
          if (slot < ESTIMATE_SAMPLE) sample[slot] = row;
        }
      }
    }
    if (range && resolved.fromRowId === undefined) {
      resolved.fromRowId = '1';
      resolved.toRowId = '0';
    }
    if (scope.mode !== 'cells') resolved.maxRowId = maxRowId ?? '0';
    candidates.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    return {
      scope: resolved,
      cells,
      cacheHits,
      sample,
      examples: candidates.slice(0, MAX_POOL).map((candidate) => candidate.example),
      observedOutputTokens: outputSamples >= 3 ? outputTokens / outputSamples : undefined,
      observedLatencyMs: latencySamples >= 3 ? latency / latencySamples : undefined,
    };
  }

  async function estimate(
    snapshot: ProcessSnapshot,
    surveyed: Awaited<ReturnType<typeof survey>>,
  ): Promise<RunEstimate> {
    const { loadTokenCounter } = await import('../../llm/llm-tokens.ts');
    const countTokens = await loadTokenCounter();
    const pool = new FewShotPool(surveyed.examples, countTokens);
    const outputSchema = outputSchemaFor(snapshot.output);
    let inputTotal = 0;
    for (const row of surveyed.sample) {
      const rendered = renderCellTemplate(snapshot, row.values);
      const messages = cellMessages(snapshot, rendered, {
        examples: pool.select(rendered, {
          k: config.fewShotK,
          tokenBudget: config.fewShotTokens,
          excludeRowId: row.rowId,
        }).examples,
        diversity: snapshot.diversity ? { seed: 'seed0000' } : undefined,
      });
      inputTotal += await estimateInputTokens(messages, outputSchema, { safety: false });
    }
    const searchTokens = snapshot.search?.enabled ? TOKENS_PER_SOURCE * 5 : 0;
    const inputPerCell =
      surveyed.sample.length > 0
        ? Math.ceil(inputTotal / surveyed.sample.length) + searchTokens
        : 0;
    const maxOut = snapshot.parameters.maxOutputTokens;
    const defaultOut = DEFAULT_OUTPUT_TOKENS[snapshot.output.type];
    const outputPerCell = Math.ceil(
      surveyed.observedOutputTokens ??
        (maxOut === undefined ? defaultOut : Math.min(maxOut, defaultOut)),
    );
    const { source, maxConcurrency } = await priceFor(
      snapshot.projectId,
      snapshot.provider,
      snapshot.model,
    );
    const perCell = costNano(
      {
        uncachedInputTokens: inputPerCell,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        outputTokens: outputPerCell,
        reasoningTokens: undefined,
      },
      snapshot.model,
      source,
    );
    const calls = surveyed.cells - surveyed.cacheHits;
    const cost = perCell === null ? null : perCell * calls;
    const concurrency = Math.max(1, Math.min(config.concurrency, maxConcurrency));
    const latency = surveyed.observedLatencyMs ?? DEFAULT_LATENCY_MS;
    return {
      cells: surveyed.cells,
      cache: surveyed.scope.fresh ? 'bypass' : 'use',
      expectedCacheHits: surveyed.cacheHits,
      modelCalls: calls,
      sampled: surveyed.sample.length,
      inputTokensPerCell: inputPerCell,
      outputTokensPerCell: outputPerCell,
      inputTokens: inputPerCell * calls,
      outputTokens: outputPerCell * calls,
      costNano: cost,
      durationSeconds: Math.ceil((calls * latency) / concurrency / 1000),
      concurrency,
      concurrencyLimitedBy: maxConcurrency <= config.concurrency ? 'provider' : 'server',
      confirmationRequired: cost !== null && cost > config.confirmAboveNano,
      confirmAboveNano: config.confirmAboveNano,
      examplesAvailable: surveyed.examples.length,
      basis: {
        outputTokens: surveyed.observedOutputTokens === undefined ? 'default' : 'observed',
        latency: surveyed.observedLatencyMs === undefined ? 'default' : 'observed',
      },
    };
  }

  const scopeOf = (request: ParsedRunRequest): RunScope => ({
    mode: request.mode,
    ...(request.rowIds ? { rowIds: [...new Set(request.rowIds)] } : {}),
    includeValidated: request.includeValidated ?? false,
    includeDownstream: request.includeDownstream,
    // Regenerating (every cell, a range, listed cells) asks for a new answer: the cache would
    // give the old one back. The other modes fill what is missing or out of date, where a
    // cached answer to the same prompt is the right one.
    fresh: request.fresh ?? REGENERATE_MODES.has(request.mode),
  });

  const publishRun = (run: RunRow) =>
    events.publish(datasetStream(run.dataset_id), {
      type: 'run-progress',
      data: {
        runId: run.id,
        columnId: run.column_id,
        status: run.status,
        total: run.total,
        done: run.done,
        errors: run.errors,
        conflicts: run.conflicts,
      },
      coalesceKey: `run:${run.id}`,
    });

  async function dispatch(run: RunRow) {
    if (!deps.dispatch) return;
    try {
      await deps.dispatch(run.id);
    } catch (error) {
      await store.updateRun(run.id, {
        status: 'failed',
        error: { code: 'INTERNAL', message: 'The run could not be queued' },
      });
      throw error;
    }
  }

  /** Creates a run (queued, or waiting for confirmation when it may cost more than the threshold). */
  async function createRun(
    actor: Actor,
    process: ProcessRow,
    columns: readonly ColumnRow[],
    request: ParsedRunRequest,
    options: { parentRunId?: string; createdBy?: string | null } = {},
  ) {
    const snapshot = snapshotOf(process, columns);
    requireInputs(snapshot, columns);
    if (request.mode !== 'cells') {
      const running = await store.findActiveRun(process.column_id);
      if (running)
        throw conflict('A run is already in progress on this column; pause, resume or cancel it', {
          runId: running.id,
        });
    }
    const surveyed = await survey(
      snapshot,
      scopeOf(request),
      request.mode === 'range' ? request.range : undefined,
    );
    const estimated = await estimate(snapshot, surveyed);
    const needsConfirmation = estimated.confirmationRequired && !request.confirm;
    const status: RunRow['status'] = needsConfirmation
      ? 'awaiting-confirmation'
      : estimated.cells === 0
        ? 'completed'
        : 'queued';
    let run: RunRow;
    try {
      run = await store.transaction(async (trx) => {
        const inserted = await store.insertRun(
          {
            id: uuidv7(),
            project_id: process.project_id,
            dataset_id: process.dataset_id,
            column_id: process.column_id,
            kind: 'column',
            mode: request.mode,
            scope: JSON.stringify(surveyed.scope),
            status,
            process_version: process.version,
            estimate: JSON.stringify(estimated),
            total: estimated.cells,
            max_row_id:
              surveyed.scope.maxRowId === undefined ? null : Number(surveyed.scope.maxRowId),
            parent_run_id: options.parentRunId ?? null,
            created_by: options.createdBy === undefined ? creatorOf(actor) : options.createdBy,
            ...(status === 'completed' ? { finished_at: new Date() } : {}),
          },
          trx,
        );
        await audit.record(trx, {
          actor,
          action: 'generation-run.create',
          entityType: 'generation_run',
          entityId: inserted.id,
          projectId: process.project_id,
          summary: {
            columnId: process.column_id,
            mode: request.mode,
            cells: estimated.cells,
            status,
          },
        });
        return inserted;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('A run is already in progress on this column');
      throw error;
    }
    publishRun(run);
    if (status === 'queued') await dispatch(run);
    if (status === 'completed' && request.includeDownstream) await startDownstream(run);
    return run;
  }

  /** After a run with `includeDownstream`: refresh the AI columns that read this one. */
  async function startDownstream(run: RunRow) {
    if (!run.column_id) return;
    const actor = systemActor();
    const { columns } = await sheets.requireDataset(
      actor,
      run.project_id,
      run.dataset_id,
      'editor',
    );
    const processes = await store.listProcesses(run.dataset_id);
    const graph = dependencyGraph(columns, processes);
    const readers = nextAiReaders(
      graph,
      run.column_id,
      new Set(processes.map((process) => process.column_id)),
    );
    for (const columnId of readers) {
      const process = processes.find((candidate) => candidate.column_id === columnId)!;
      try {
        await createRun(
          actor,
          process,
          columns,
          runRequestSchema.parse({ mode: 'outdated', includeDownstream: true, confirm: true }),
          {
            parentRunId: run.id,
            createdBy: run.created_by,
          },
        );
      } catch (error) {
        deps.logger.info({ err: error, columnId }, 'downstream run not started');
      }
    }
  }

  const service = {
    /**
     * Creates an AI column and its process in one transaction, then (unless `run: false`)
     * starts filling it and returns at once; the run waits for confirmation when its
     * estimated cost is above the threshold and `confirm` was not given.
     */
    async createAiColumn(
      actor: Actor,
      projectId: string,
      datasetId: string,
      input: CreateAiColumnInput,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = createAiColumnSchema.parse(input);
      const { columns } = await sheets.requireDataset(actor, projectId, datasetId, 'editor');
      await requireUsableProvider(projectId, parsed.provider);
      const prepared = await prepare(
        { ...parsed, provider: parsed.provider, search: parsed.search },
        columns,
        datasetId,
        undefined,
        parsed.name,
      );
      let processRow: ProcessRow | undefined;
      const column = await sheets.addColumn(
        actor,
        projectId,
        datasetId,
        {
          name: parsed.name,
          type: columnTypeFor(parsed.output),
          ...(parsed.position === undefined ? {} : { position: parsed.position }),
        },
        {
          ai: async (trx, columnRow) => {
            processRow = await store.insertProcess(
              {
                id: uuidv7(),
                project_id: projectId,
                dataset_id: datasetId,
                column_id: columnRow.id,
                prompt: prepared.template,
                instructions: parsed.instructions,
                provider: parsed.provider ?? null,
                model: parsed.model,
                parameters: JSON.stringify(parsed.parameters),
                output_type: parsed.output.type,
                categories:
                  parsed.output.type === 'category'
                    ? JSON.stringify(parsed.output.categories)
                    : null,
                json_schema:
                  parsed.output.type === 'json' ? JSON.stringify(parsed.output.schema) : null,
                search: prepared.search ? JSON.stringify(prepared.search) : null,
                input_column_ids: prepared.inputs,
                prompt_hash: prepared.promptHash,
                created_by: creatorOf(actor),
              },
              trx,
            );
            await audit.record(trx, {
              actor,
              action: 'ai-column.create',
              entityType: 'dataset_column',
              entityId: columnRow.id,
              projectId,
              summary: {
                datasetId,
                name: parsed.name,
                model: parsed.model,
                output: parsed.output.type,
              },
            });
          },
        },
      );
      deps.onProcessesChanged?.(datasetId);
      const after = (await sheets.requireDataset(actor, projectId, datasetId, 'editor')).columns;
      const run = parsed.run
        ? await createRun(
            actor,
            processRow!,
            after,
            // A new column: nothing to regenerate, so the cache may answer.
            runRequestSchema.parse({ mode: 'all', fresh: false, confirm: parsed.confirm }),
          )
        : undefined;
      return {
        column,
        process: presentProcess(processRow!, after),
        run: run ? presentRun(run) : null,
      };
    },

    async getAiColumn(actor: Actor, projectId: string, datasetId: string, columnId: string) {
      const { columns, process } = await loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'viewer',
      );
      const processes = await store.listProcesses(datasetId);
      const graph = dependencyGraph(columns, processes);
      const readers = [...graph]
        .filter(([, inputs]) => inputs.includes(columnId))
        .map(([id]) => id);
      const active = await store.findActiveRun(columnId);
      return {
        process: presentProcess(process, columns),
        dependsOn: process.input_column_ids,
        usedBy: readers,
        activeRun: active ? presentRun(active, runner.live(active.id)) : null,
      };
    },

    /**
     * Edits the process. A change to what the model is asked (prompt, instructions, model,
     * parameters, output, search) bumps the version and marks the column's generated cells
     * stale; the response cache misses on its own (the messages differ). Runs in progress go
     * on with the new version.
     */
    async updateProcess(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      input: UpdateProcessInput,
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = updateProcessSchema.parse(input);
      const { columns, process } = await loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'editor',
      );
      await requireUsableProvider(projectId, parsed.provider);
      const current = presentProcess(process, columns);
      const output = parsed.output ?? current.output;
      if (parsed.output && columnTypeFor(parsed.output) !== columnTypeFor(current.output))
        throw validationError(
          'This output type needs another column type; create a new AI column',
          [{ path: 'output.type', message: 'changes the column type' }],
        );
      // Unchanged fields are taken as shown (names), so they resolve like new input.
      const search =
        parsed.search === undefined
          ? (current.search as { enabled: boolean; query?: string } | null)
          : parsed.search;
      const prepared = await prepare(
        {
          prompt: parsed.prompt ?? current.prompt,
          instructions: parsed.instructions ?? process.instructions,
          provider: parsed.provider === undefined ? process.provider : parsed.provider,
          model: parsed.model ?? process.model,
          parameters: (parsed.parameters ?? process.parameters) as Record<string, unknown>,
          output,
          search: search ?? null,
        },
        columns,
        datasetId,
        columnId,
      );
      const changed = prepared.promptHash !== process.prompt_hash;
      const updated = await store.transaction(async (trx) => {
        const row = await store.updateProcess(
          process.id,
          {
            prompt: prepared.template,
            instructions: parsed.instructions ?? process.instructions,
            provider: parsed.provider === undefined ? process.provider : (parsed.provider ?? null),
            model: parsed.model ?? process.model,
            parameters: JSON.stringify(parsed.parameters ?? process.parameters),
            output_type: output.type,
            categories: output.type === 'category' ? JSON.stringify(output.categories) : null,
            json_schema: output.type === 'json' ? JSON.stringify(output.schema) : null,
            search: prepared.search ? JSON.stringify(prepared.search) : null,
            input_column_ids: prepared.inputs,
            prompt_hash: prepared.promptHash,
            ...(changed ? { version: process.version + 1 } : {}),
          },
          trx,
        );
        await audit.record(trx, {
          actor,
          action: 'ai-column.update',
          entityType: 'dataset_column',
          entityId: columnId,
          projectId,
          summary: { datasetId, version: row.version, fields: Object.keys(parsed) },
        });
        return row;
      });
      deps.onProcessesChanged?.(datasetId);
      let staleCells = 0;
      if (changed) {
        // Done cells made by another version of the prompt (validated cells stay).
        const { promptHash } = snapshotOf(updated, columns);
        staleCells = await markDoneCellsStale(
          sheets,
          updated,
          (cell) => cell.promptHash !== promptHash,
        );
        const runs = (await store.listRuns(datasetId, { columnId })).filter(
          (run) => run.status === 'running',
        );
        runner.processChanged(runs.map((run) => run.id));
      }
      return { process: presentProcess(updated, columns), staleCells };
    },

    /** Estimated cells, tokens, cost and duration of a run, from a sample of its rows. */
    async previewRun(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      request: RunRequest = {},
    ) {
      await access.requireRole(actor, projectId, 'viewer');
      const parsed = runRequestSchema.parse(request);
      const { columns, process } = await loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'viewer',
      );
      const snapshot = snapshotOf(process, columns);
      requireInputs(snapshot, columns);
      const surveyed = await survey(
        snapshot,
        scopeOf(parsed),
        parsed.mode === 'range' ? parsed.range : undefined,
      );
      return estimate(snapshot, surveyed);
    },

    /**
     * The messages a draft prompt sends for the first rows (row-id order, as a range run counts
     * them), rendered by the same code as a run and without calling a model. Few-shot examples
     * and search results are added at run time and left out; so is the per-row variety note of
     * a prompt that reads no column, until the column exists (its seed is the process id).
     */
    async previewPrompt(
      actor: Actor,
      projectId: string,
      datasetId: string,
      input: PromptPreviewInput,
    ): Promise<PromptPreview> {
      const parsed = promptPreviewSchema.parse(input);
      const { columns } = await sheets.requireDataset(actor, projectId, datasetId, 'viewer');
      const self =
        parsed.columnId === undefined
          ? undefined
          : columns.find((column) => column.id === parsed.columnId);
      if (parsed.columnId !== undefined && !self) throw notFound('column', parsed.columnId);
      const named = [
        ...(self === undefined && parsed.columnName !== undefined
          ? [{ id: SELF, name: parsed.columnName }]
          : []),
        ...columns.map((column) => ({ id: column.id, name: column.name })),
      ];
      const template = storeTemplate(parsed.prompt, named, 'prompt');
      if (template.inputs.includes(self?.id ?? SELF))
        throw validationError('The prompt may not refer to its own column', [
          { path: 'prompt', message: 'dependency cycle: refers to its own column' },
        ]);
      if (parsed.output.type === 'json') compileJsonSchema(parsed.output.schema);
      const process = self?.kind === 'ai' ? await store.findProcessByColumn(self.id) : undefined;
      const window = await sheets.readWindow(systemActor(), projectId, datasetId, {
        limit: parsed.rows,
        columns: template.inputs,
      });
      const names = new Map(columns.map((column) => [column.id, column.name]));
      const varied = template.inputs.length === 0;
      const rows = window.rows.map((row, index) => {
        const values: Record<string, CellValue> = {};
        for (const id of template.inputs)
          values[id] = (row.cells[id] as { value: CellValue } | undefined)?.value ?? null;
        const settings = {
          columnName: parsed.columnName ?? self?.name ?? 'column',
          output: parsed.output,
          instructions: parsed.instructions,
          template: template.stored,
        };
        const messages = cellMessages(settings, renderCellTemplate(settings, values), {
          diversity: varied && process ? { seed: diversitySeed(process.id, row.rowId) } : undefined,
        });
        return {
          rowId: row.rowId,
          position: index + 1,
          // The cell prompt is system/user text only (prompt-template.ts).
          messages: messages.map((message) => ({
            role: message.role as 'system' | 'user' | 'assistant',
            content: message.content as string,
          })),
          missingColumns: template.inputs
            .filter((id) => values[id] === null || values[id] === '')
            .map((id) => names.get(id) ?? id),
        };
      });
      return {
        rows,
        omitted: [
          'few-shot-examples' as const,
          'search-results' as const,
          ...(varied && !process ? ['variety-note' as const] : []),
        ],
      };
    },

    async startRun(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      request: RunRequest = {},
    ) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = runRequestSchema.parse(request);
      const { columns, process } = await loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'editor',
      );
      const run = await createRun(actor, process, columns, parsed);
      return presentRun(run, runner.live(run.id));
    },

    async listRuns(
      actor: Actor,
      projectId: string,
      datasetId: string,
      options: { columnId?: string; limit?: number } = {},
    ) {
      await sheets.requireDataset(actor, projectId, datasetId, 'viewer');
      const runs = await store.listRuns(datasetId, options);
      return runs.map((run) => presentRun(run, runner.live(run.id)));
    },

    /** A run with its progress: done/total, errors, tokens, cost so far, rate, ETA. */
    async getRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loadRun(actor, projectId, datasetId, runId, 'viewer');
      return presentRun(run, runner.live(run.id));
    },

    /**
     * Cancels a run: calls in flight are aborted and their cells go back to their previous
     * state (a running run finishes that within a moment; the answer may still say running).
     */
    async cancelRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loadRun(actor, projectId, datasetId, runId, 'editor');
      const stopped = await stopRun({ store, runner }, runId);
      if (!stopped) throw conflict(`The run is already ${run.status}`, { status: run.status });
      if (stopped.ended) publishRun(stopped.run);
      await audit.record(store.db, {
        actor,
        action: 'generation-run.cancel',
        entityType: 'generation_run',
        entityId: runId,
        projectId,
      });
      return presentRun(stopped.run, runner.live(runId));
    },

    /** Pauses a run: no new calls; calls in flight are aborted and their cells restored. */
    async pauseRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loadRun(actor, projectId, datasetId, runId, 'editor');
      let result = await store.transitionRun(runId, ['queued'], {
        status: 'paused',
        pause_reason: 'user',
      });
      if (!result) {
        result = await store.transitionRun(runId, ['running'], { pause_requested: true });
        if (!result) throw conflict(`The run is ${run.status}`, { status: run.status });
        runner.stop(runId, 'pause');
      } else publishRun(result);
      await audit.record(store.db, {
        actor,
        action: 'generation-run.pause',
        entityType: 'generation_run',
        entityId: runId,
        projectId,
      });
      return presentRun(result, runner.live(runId));
    },

    /** Resumes a paused (or failed) run where it stopped; a budget pause resumes once the budget allows. */
    async resumeRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loadRun(actor, projectId, datasetId, runId, 'editor');
      let result: RunRow | undefined;
      try {
        result = await store.transitionRun(runId, ['paused', 'failed'], {
          status: 'queued',
          pause_reason: null,
          pause_requested: false,
          cancel_requested: false,
          error: null,
          finished_at: null,
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict('Another run is in progress on this column');
        throw error;
      }
      if (!result) throw conflict(`The run is ${run.status}`, { status: run.status });
      await audit.record(store.db, {
        actor,
        action: 'generation-run.resume',
        entityType: 'generation_run',
        entityId: runId,
        projectId,
      });
      publishRun(result);
      await dispatch(result);
      return presentRun(result);
    },

    /** Starts a run that waited for confirmation of its estimated cost. */
    async confirmRun(actor: Actor, projectId: string, datasetId: string, runId: string) {
      const run = await loadRun(actor, projectId, datasetId, runId, 'editor');
      let result: RunRow | undefined;
      try {
        result = await store.transitionRun(runId, ['awaiting-confirmation'], { status: 'queued' });
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict('Another run is in progress on this column');
        throw error;
      }
      if (!result) throw conflict(`The run is ${run.status}`, { status: run.status });
      await audit.record(store.db, {
        actor,
        action: 'generation-run.confirm',
        entityType: 'generation_run',
        entityId: runId,
        projectId,
        summary: { estimate: run.estimate },
      });
      publishRun(result);
      await dispatch(result);
      return presentRun(result);
    },

    /** Where a cell's value came from: model, prompt and input hashes, tokens, cost, latency, attempts, sources, error. */
    async cellProvenance(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      rowId: bigint,
    ) {
      const { columns, process } = await loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'viewer',
      );
      const snapshot = snapshotOf(process, columns);
      const rows = await sheets.readCells(
        actor,
        projectId,
        datasetId,
        [columnId, ...snapshot.inputs.filter((id) => columns.some((c) => c.id === id))],
        [rowId],
      );
      const cells = rows.get(rowId.toString());
      if (!cells) throw notFound('row', rowId.toString());
      const cell = cells[columnId]!;
      const values: Record<string, CellValue> = {};
      for (const id of snapshot.inputs) values[id] = cells[id]?.value ?? null;
      const generated = cell.promptHash !== null;
      return {
        rowId: rowId.toString(),
        columnId,
        value: cell.value,
        status: cell.status,
        version: cell.version,
        validated: cell.validated,
        error: cell.error,
        raw: cell.raw,
        model: cell.model,
        promptHash: cell.promptHash,
        inputHash: cell.inputHash,
        inputTokens: cell.inputTokens,
        outputTokens: cell.outputTokens,
        costNanoUsd: cell.costNanoUsd,
        latencyMs: cell.latencyMs,
        attempts: cell.attempts,
        sources: (cell.sources as unknown[] | null) ?? [],
        updatedAt: cell.updatedAt,
        current: {
          processVersion: process.version,
          promptHash: process.prompt_hash,
          inputHash: inputHashOf(snapshot.inputs, values),
          /** Whether the cell was made by the current prompt from the current inputs. */
          upToDate:
            generated &&
            !isOutdated(
              { rowId: rowId.toString(), cell: cell as never, values },
              { promptHash: process.prompt_hash, inputs: snapshot.inputs },
            ),
        },
      };
    },

    /** For the job and the CLI: starts downstream runs of a completed run. */
    startDownstream,
    /** System use case (CLI): a run created and then executed in this process. */
    createRunForCli: async (
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      request: RunRequest,
    ) => {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = runRequestSchema.parse(request);
      const { columns, process } = await loadColumn(
        actor,
        projectId,
        datasetId,
        columnId,
        'editor',
      );
      return createRun(actor, process, columns, parsed);
    },
    templateInputs,
  };
  return service;
}

export type GenerationService = ReturnType<typeof createGenerationService>;
