import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PromptPreviewView, RunEstimateView } from '../../shared/api-types.ts';
import { columnParams, datasetParams, inDataset, runParams } from '../sheet-route-common.ts';
import { rowIdStringSchema } from '../sheet-schema.ts';
import type { AiColumnUseCases } from './generation-ai-columns.ts';
import type { Estimates } from './generation-estimates.ts';
import { presentProvenance, withProcessView } from './generation-presenter.ts';
import type { RunUseCases } from './generation-runs.ts';
import {
  createAiColumnSchema,
  generateRowsSchema,
  promptPreviewSchema,
  runRequestSchema,
  updateProcessSchema,
} from './generation-schema.ts';
import type { RowsGeneration } from './rows-run/generate-rows.ts';

export interface GenerationRoutesOptions {
  /** The use cases the routes call (the generation module's). */
  generation: {
    aiColumns: AiColumnUseCases;
    runs: RunUseCases;
    estimates: Pick<Estimates, 'previewRun'>;
  };
  rows: Pick<RowsGeneration, 'generateRows'> | undefined;
}

const promptPreviewView = z.object({
  rows: z.array(
    z.object({
      rowId: z.string(),
      position: z.number().int().describe('1-based, in row order'),
      messages: z
        .array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }))
        .describe('what the call would send, in order'),
      missingColumns: z
        .array(z.string())
        .describe('referenced columns that are empty in this row (rendered as nothing)'),
    }),
  ),
  omitted: z
    .array(z.enum(['few-shot-examples', 'search-results', 'variety-note']))
    .describe('what a run adds that the preview leaves out'),
});
const cellParams = columnParams.extend({
  rowId: rowIdStringSchema,
});

/**
 * AI columns over HTTP (session or API key): validate → service → present. Progress also
 * streams as `run-progress` events on the dataset's event stream (…/datasets/:id/events).
 */
export const generationRoutes: FastifyPluginAsyncZod<GenerationRoutesOptions> = async (
  app,
  options,
) => {
  const { aiColumns, runs, estimates } = options.generation;
  const tags = ['ai-columns'];
  const base = '/api/projects/:projectId/datasets/:datasetId';

  app.post(
    `${base}/ai-columns`,
    {
      schema: {
        tags,
        summary:
          'Create an AI column (column + process in one transaction); starts filling it and returns at once',
        params: datasetParams,
        body: createAiColumnSchema,
      },
    },
    async (request, reply) => {
      reply.status(201);
      return withProcessView(await aiColumns.createAiColumn(...inDataset(request), request.body));
    },
  );

  app.post(
    `${base}/ai-columns/preview-prompt`,
    {
      config: { readOnly: true },
      schema: {
        tags,
        summary: 'Render a draft prompt against the first rows, without calling a model (viewer)',
        description:
          'The messages a run would send for the first `rows` rows (default 3, in row order), rendered by the same code as a run: system message (column, output format, instructions) and the filled template. Few-shot examples and web search results are added at run time and are not included. An unknown `{{Column}}` is a 400 naming the `prompt` field.',
        params: datasetParams,
        body: promptPreviewSchema,
        response: { 200: promptPreviewView },
      },
    },
    async (request): Promise<PromptPreviewView> =>
      aiColumns.previewPrompt(...inDataset(request), request.body),
  );

  app.get(
    `${base}/ai-columns/:columnId`,
    {
      schema: {
        tags,
        summary: 'An AI column’s process, dependencies and active run',
        params: columnParams,
      },
    },
    async (request) =>
      withProcessView(await aiColumns.getAiColumn(...inDataset(request), request.params.columnId)),
  );

  app.patch(
    `${base}/ai-columns/:columnId`,
    {
      schema: {
        tags,
        summary:
          'Edit the process (prompt, model, parameters, output, search); marks generated cells stale',
        params: columnParams,
        body: updateProcessSchema,
      },
    },
    async (request) =>
      withProcessView(
        await aiColumns.updateProcess(...inDataset(request), request.params.columnId, request.body),
      ),
  );

  app.post(
    `${base}/ai-columns/:columnId/preview`,
    {
      config: { readOnly: true },
      schema: {
        tags,
        summary: 'Estimate a run: cells, tokens, cost and duration from a sample of rows',
        description:
          'Counts the cells the response cache is expected to answer (`expectedCacheHits`, at no cost and no wait) apart from those the model is asked for (`modelCalls`): a regenerate (modes all, range, cells) skips the cache, so it expects none (`cache: "bypass"`). `concurrency` is the window the run will use and `concurrencyLimitedBy` which limit sets it (the provider connection’s cap or BRAINCELLS_GENERATION_CONCURRENCY).',
        params: columnParams,
        body: runRequestSchema.default({ mode: 'all', includeDownstream: false, confirm: false }),
      },
    },
    async (request): Promise<RunEstimateView> =>
      estimates.previewRun(...inDataset(request), request.params.columnId, request.body),
  );

  app.post(
    `${base}/ai-columns/:columnId/runs`,
    {
      schema: {
        tags,
        summary:
          'Start a run: all, empty, a row range, errors, stale, outdated or listed cells (awaits confirmation above the cost threshold)',
        description:
          'Modes all, range and cells regenerate: they ask the model again, skipping the response cache (`fresh` defaults to true for them; `fresh: false` lets cached answers through). A run whose calls stay rate limited (429) after the router’s retries hands those cells back untouched and waits (`waiting` on the run, still `running`) until the provider’s Retry-After, then resumes by itself.',
        params: columnParams,
        body: runRequestSchema.default({ mode: 'all', includeDownstream: false, confirm: false }),
      },
    },
    async (request, reply) => {
      reply.status(202);
      return runs.startRun(...inDataset(request), request.params.columnId, request.body);
    },
  );

  app.get(
    `${base}/ai-columns/:columnId/cells/:rowId/provenance`,
    {
      schema: {
        tags,
        summary:
          'Where a cell’s value came from: model, prompt hash, tokens, cost, latency, attempts, sources, error',
        params: cellParams,
      },
    },
    async (request) =>
      presentProvenance(
        await aiColumns.cellProvenance(
          ...inDataset(request),
          request.params.columnId,
          BigInt(request.params.rowId),
        ),
      ),
  );

  app.get(
    `${base}/runs`,
    {
      schema: {
        tags,
        summary: 'Generation runs of a dataset, newest first',
        params: datasetParams,
        querystring: z.object({
          columnId: z.uuid().optional(),
          limit: z.coerce.number().int().min(1).max(200).optional(),
        }),
      },
    },
    async (request) => ({
      items: await runs.listRuns(...inDataset(request), {
        ...(request.query.columnId ? { columnId: request.query.columnId } : {}),
        ...(request.query.limit ? { limit: request.query.limit } : {}),
      }),
    }),
  );

  app.get(
    `${base}/runs/:runId`,
    {
      schema: {
        tags,
        summary: 'A run’s progress: done/total, errors, conflicts, tokens, cost so far, rate, ETA',
        description:
          '`outcome` of a completed run is `done`, or `errors` when some cells failed ("Finished with N errors"; `error.message` carries the last failure with the provider’s name and own message; start mode `errors` to retry them). `waiting` is set while a rate-limited run waits to resume by itself (`until`, `message`). `concurrency` (while executing) gives the window, the server and provider caps, the provider’s current adaptive limit and `limitedBy`.',
        params: runParams,
      },
    },
    async (request) => runs.getRun(...inDataset(request), request.params.runId),
  );

  const action = (
    name: 'cancel' | 'pause' | 'resume' | 'confirm',
    summary: string,
    handler: RunUseCases['cancelRun'],
  ) =>
    app.post(
      `${base}/runs/:runId/${name}`,
      { schema: { tags, summary, params: runParams } },
      async (request) => handler(...inDataset(request), request.params.runId),
    );
  action(
    'cancel',
    'Cancel a run: in-flight calls are aborted and their cells restored',
    runs.cancelRun,
  );
  action(
    'pause',
    'Pause a run (in-flight calls aborted, cells restored); resume continues it',
    runs.pauseRun,
  );
  action('resume', 'Resume a paused run (e.g. after its budget was raised)', runs.resumeRun);
  action(
    'confirm',
    'Start a run that waits for confirmation of its estimated cost',
    runs.confirmRun,
  );

  const rows = options.rows;
  if (rows) {
    app.post(
      `${base}/generate-rows`,
      {
        schema: {
          tags,
          summary: 'Generate N new rows from a description alone (parallel, diverse)',
          description:
            "Starts a durable run and answers at once. Each row gets up to 3 calls: an answer that is not JSON or does not fit the columns, a near-duplicate of a row already made, or a retryable failure is asked again. Rows still not made are counted in the run's progress.errors and listed in error.details.failedRows ({ row, attempts, reason }).",
          params: datasetParams,
          body: generateRowsSchema,
        },
      },
      async (request, reply) => {
        reply.status(202);
        return rows.generateRows(...inDataset(request), request.body);
      },
    );
  }
};
