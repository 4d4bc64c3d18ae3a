import type { Actor } from '../../access/actor.ts';
import type { ProjectAccess } from '../../access/project-access.ts';
import { systemActor } from '../../auth/system-actor.ts';
import type { LlmModule } from '../../llm/llm-module.ts';
import {
  costNano,
  defaultCatalogProvider,
  type PriceSource,
  usdPerMtokToNano,
} from '../../llm/llm-prices.ts';
import { estimateInputTokens } from '../../llm/llm-tokens.ts';
import type { GenerationConfig } from '../../platform/config.ts';
import type { RunEstimateView } from '../../shared/api-types.ts';
import type { SheetService } from '../sheet-service.ts';
import { type Example, FewShotPool, MAX_POOL } from './few-shot.ts';
import type { GenerationLoaders } from './generation-loaders.ts';
import { buildMessages, cellPrompt } from './generation-messages.ts';
import { exampleAnswer, type OutputSpec, outputSchemaFor } from './generation-output.ts';
import { type ProcessSnapshot, requireInputs, snapshotOf } from './generation-process.ts';
import { type ParsedRunRequest, type RunRequest, runRequestSchema } from './generation-schema.ts';
import {
  isEligible,
  isOutdated,
  type RunScope,
  type ScannedRow,
  scanRows,
} from './generation-scope.ts';
import { renderTemplate } from './prompt-template.ts';

/**
 * Estimates: what a run of an AI column would generate, and what it would cost in tokens,
 * money and time — from one pass over its scope and the prompts of a sample of its rows. The
 * run use cases estimate every run they create (a costly one waits for confirmation); the
 * `previewRun` use case answers the same figures without creating a run.
 */
/** Modes that regenerate cells that may already be done: they skip the response cache. */
export const REGENERATE_MODES: ReadonlySet<string> = new Set(['all', 'range', 'cells']);

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

/** A run's estimate is returned as it goes on the wire (src/shared/api-types.ts). */
export type RunEstimate = RunEstimateView;

/** A run request's scope; regenerating modes skip the response cache unless told otherwise. */
export const runScopeOf = (request: ParsedRunRequest): RunScope => ({
  mode: request.mode,
  ...(request.rowIds ? { rowIds: [...new Set(request.rowIds)] } : {}),
  includeValidated: request.includeValidated ?? false,
  includeDownstream: request.includeDownstream,
  // Regenerating (every cell, a range, listed cells) asks for a new answer: the cache would
  // give the old one back. The other modes fill what is missing or out of date, where a
  // cached answer to the same prompt is the right one.
  fresh: request.fresh ?? REGENERATE_MODES.has(request.mode),
});

export interface EstimatesDeps {
  sheets: SheetService;
  llm: Pick<LlmModule, 'admin'>;
  access: ProjectAccess;
  config: GenerationConfig;
  loaders: GenerationLoaders;
}

export function createEstimates(deps: EstimatesDeps) {
  const { sheets, config, access } = deps;

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
      const rendered = renderTemplate(snapshot.template, row.values);
      const messages = buildMessages(
        cellPrompt(snapshot, row.values, {
          rendered,
          examples: pool.select(rendered, {
            k: config.fewShotK,
            tokenBudget: config.fewShotTokens,
            excludeRowId: row.rowId,
          }).examples,
          // Any seed measures the same: the note's length does not depend on it.
          seed: snapshot.diversity ? 'seed0000' : undefined,
        }),
      );
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

  return {
    survey,
    estimate,
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
      const { columns, process } = await deps.loaders.loadColumn(
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
        runScopeOf(parsed),
        parsed.mode === 'range' ? parsed.range : undefined,
      );
      return estimate(snapshot, surveyed);
    },
  };
}

export type Estimates = ReturnType<typeof createEstimates>;
export type Survey = Awaited<ReturnType<Estimates['survey']>>;
