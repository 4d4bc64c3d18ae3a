import type { Actor } from '../../access/actor.ts';
import type { LlmModule } from '../../llm/llm-module.ts';
import { costNano } from '../../llm/llm-prices.ts';
import { estimateInputTokens } from '../../llm/llm-tokens.ts';
import type { GenerationConfig } from '../../platform/config.ts';
import type { RunEstimateView } from '../../shared/api-types.ts';
import type { SheetService } from '../sheet-service.ts';
import { priceFor } from './estimate-price.ts';
import { type Survey, surveyScope } from './estimate-survey.ts';
import { FewShotPool } from './few-shot.ts';
import type { GenerationLoaders } from './generation-loaders.ts';
import { buildMessages, cellPrompt } from './generation-messages.ts';
import { type OutputSpec, outputSchemaFor } from './generation-output.ts';
import { type ProcessSnapshot, requireInputs, snapshotOf } from './generation-process.ts';
import { type ParsedRunRequest, type RunRequest, runRequestSchema } from './generation-schema.ts';
import type { RunScope } from './generation-scope.ts';
import { renderTemplate } from './prompt-template.ts';

/**
 * Estimates: what a run of an AI column would generate, and what it would cost in tokens,
 * money and time — from one pass over its scope and the prompts of a sample of its rows. The
 * run use cases estimate every run they create (a costly one waits for confirmation); the
 * `previewRun` use case answers the same figures without creating a run.
 */
/** Modes that regenerate cells that may already be done: they skip the response cache. */
export const REGENERATE_MODES: ReadonlySet<string> = new Set(['all', 'range', 'cells']);

/** Assumed when the column has no generated cells to learn from (see docs/ai-columns.md). */
const DEFAULT_LATENCY_MS = 2_000;
const DEFAULT_OUTPUT_TOKENS: Record<OutputSpec['type'], number> = {
  text: 150,
  number: 10,
  boolean: 8,
  category: 12,
  json: 300,
  // gpt-image-1 at medium quality, 1024×1024 (OpenAI's image-generation guide).
  image: 1_056,
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
  config: GenerationConfig;
  loaders: GenerationLoaders;
}

export function createEstimates(deps: EstimatesDeps) {
  const { sheets, config } = deps;

  /** A run's figures from its survey: tokens from a sample's prompts, cost, duration. */
  async function estimate(snapshot: ProcessSnapshot, surveyed: Survey): Promise<RunEstimate> {
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
      deps,
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
    /** One pass over a run's scope (estimate-survey.ts). */
    survey: (snapshot: ProcessSnapshot, scope: RunScope, range?: { from: number; to: number }) =>
      surveyScope(sheets, snapshot, scope, range),
    estimate,
    /** Estimated cells, tokens, cost and duration of a run, from a sample of its rows. */
    async previewRun(
      actor: Actor,
      projectId: string,
      datasetId: string,
      columnId: string,
      request: RunRequest = {},
    ) {
      const { parsed, columns, process } = await deps.loaders.parseAndLoadColumn(
        [actor, projectId, datasetId, columnId],
        'viewer',
        () => runRequestSchema.parse(request),
      );
      const snapshot = snapshotOf(process, columns);
      requireInputs(snapshot, columns);
      const surveyed = await surveyScope(
        sheets,
        snapshot,
        runScopeOf(parsed),
        parsed.mode === 'range' ? parsed.range : undefined,
      );
      return estimate(snapshot, surveyed);
    },
  };
}

export type Estimates = ReturnType<typeof createEstimates>;
