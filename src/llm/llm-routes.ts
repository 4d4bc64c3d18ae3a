import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { LlmAdmin } from './llm-admin-service.ts';
import {
  budgetCreateSchema,
  budgetUpdateSchema,
  budgetView,
  cacheStatsView,
  callView,
  entitySpendView,
  modelListView,
  priceOverrideSchema,
  priceView,
  providerCreateSchema,
  providerListView,
  providerRefSchema,
  providerTestSchema,
  providerTestView,
  providerUpdateSchema,
  providerView,
  spendByEntityQuerySchema,
  spendQuerySchema,
  spendView,
} from './llm-schema.ts';

const projectParams = z.object({ projectId: z.uuid() });
const providerParams = projectParams.extend({ providerId: providerRefSchema });
const instanceProviderParams = z.object({ providerId: providerRefSchema });
const priceParams = projectParams.extend({ priceId: z.uuid() });
const budgetParams = projectParams.extend({ budgetId: z.uuid() });
const callsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1_000).default(100),
    before: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/**
 * Providers (per project and instance-wide), price overrides, budgets, spend, usage rows and the
 * response cache. Validate → service (access check first) → presenter; nothing else here.
 */
export const llmRoutes: FastifyPluginAsyncZod<{ admin: LlmAdmin }> = async (app, options) => {
  const { admin } = options;
  const tags = ['llm'];
  const base = '/api/projects/:projectId/llm';

  // — providers of a project (instance-wide and env ones are listed too) —
  app.get(
    `${base}/providers`,
    {
      schema: {
        tags,
        summary: 'Provider connections usable in the project (viewer); keys are masked',
        params: projectParams,
        response: { 200: providerListView },
      },
    },
    async (request) => ({
      items: await admin.listProviders(request.actor, request.params.projectId),
    }),
  );

  app.post(
    `${base}/providers`,
    {
      schema: {
        tags,
        summary: 'Connect a provider to the project (owner); the key is stored encrypted',
        params: projectParams,
        body: providerCreateSchema,
        response: { 201: providerView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await admin.createProvider(request.actor, request.params.projectId, request.body)),
  );

  app.get(
    `${base}/providers/:providerId`,
    {
      schema: {
        tags,
        summary: 'One provider connection (viewer)',
        params: providerParams,
        response: { 200: providerView },
      },
    },
    async (request) =>
      admin.getProvider(request.actor, request.params.projectId, request.params.providerId),
  );

  app.patch(
    `${base}/providers/:providerId`,
    {
      schema: {
        tags,
        summary:
          'Change a provider connection (owner); apiKey: a new key, null to remove, absent to keep',
        params: providerParams,
        body: providerUpdateSchema,
        response: { 200: providerView },
      },
    },
    async (request) =>
      admin.updateProvider(
        request.actor,
        request.params.projectId,
        request.params.providerId,
        request.body,
      ),
  );

  app.delete(
    `${base}/providers/:providerId`,
    { schema: { tags, summary: 'Remove a provider connection (owner)', params: providerParams } },
    async (request, reply) => {
      await admin.deleteProvider(
        request.actor,
        request.params.projectId,
        request.params.providerId,
      );
      return reply.status(204).send();
    },
  );

  app.post(
    `${base}/providers/:providerId/test`,
    {
      schema: {
        tags,
        summary: 'Test a connection (owner): key, reachability, and one 1-token request to a model',
        description:
          "The request is recorded as usage in this project (feature `test-connection`, with the tokens and cost the provider reports) and counts against its budgets: when a hard budget is used up the answer is `ok: false` with code `BUDGET_EXCEEDED` and no request is sent. No retry; the connection's circuit breaker does not hold it back.",
        params: providerParams,
        body: providerTestSchema.optional(),
        response: { 200: providerTestView },
      },
    },
    async (request) =>
      admin.testProvider(
        request.actor,
        request.params.projectId,
        request.params.providerId,
        request.body ?? {},
      ),
  );

  app.get(
    `${base}/providers/:providerId/models`,
    {
      schema: {
        tags,
        summary:
          "Models: the provider's list (when it has one) merged with the price catalog (editor)",
        description:
          "Each model with the rates a call would be priced at now, in USD per million tokens (the project's price override first, then the genai-prices catalog), and its context window. Unknown prices and windows are null, never 0.",
        params: providerParams,
        response: { 200: modelListView },
      },
    },
    async (request) =>
      admin.listModels(request.actor, request.params.projectId, request.params.providerId),
  );

  // — instance-wide providers (administrators) —
  app.get(
    '/api/llm/providers',
    {
      schema: {
        tags,
        summary: 'Instance-wide provider connections (admin)',
        response: { 200: providerListView },
      },
    },
    async (request) => ({ items: await admin.listInstanceProviders(request.actor) }),
  );

  app.post(
    '/api/llm/providers',
    {
      schema: {
        tags,
        summary: 'Add an instance-wide provider every project may use (admin)',
        body: providerCreateSchema,
        response: { 201: providerView },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await admin.createProvider(request.actor, undefined, request.body)),
  );

  app.patch(
    '/api/llm/providers/:providerId',
    {
      schema: {
        tags,
        summary: 'Change an instance-wide provider (admin)',
        params: instanceProviderParams,
        body: providerUpdateSchema,
        response: { 200: providerView },
      },
    },
    async (request) =>
      admin.updateProvider(request.actor, undefined, request.params.providerId, request.body),
  );

  app.delete(
    '/api/llm/providers/:providerId',
    {
      schema: {
        tags,
        summary: 'Remove an instance-wide provider (admin)',
        params: instanceProviderParams,
      },
    },
    async (request, reply) => {
      await admin.deleteProvider(request.actor, undefined, request.params.providerId);
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/llm/providers/:providerId/test',
    {
      schema: {
        tags,
        summary: 'Test an instance-wide or environment provider (admin)',
        description:
          'Like the project route, but with no project to charge: the request shows in the metrics and traces, not as a usage row.',
        params: instanceProviderParams,
        body: providerTestSchema.optional(),
        response: { 200: providerTestView },
      },
    },
    async (request) =>
      admin.testProvider(request.actor, undefined, request.params.providerId, request.body ?? {}),
  );

  app.get(
    '/api/llm/providers/:providerId/models',
    {
      schema: {
        tags,
        summary: 'Models of an instance-wide or environment provider (admin)',
        params: instanceProviderParams,
        response: { 200: modelListView },
      },
    },
    async (request) => admin.listModels(request.actor, undefined, request.params.providerId),
  );

  // — price overrides —
  app.get(
    `${base}/prices`,
    {
      schema: {
        tags,
        summary:
          'Price overrides of the project (viewer); other models use the genai-prices catalog',
        params: projectParams,
        response: { 200: z.object({ items: z.array(priceView) }) },
      },
    },
    async (request) => ({ items: await admin.listPrices(request.actor, request.params.projectId) }),
  );

  app.post(
    `${base}/prices`,
    {
      schema: {
        tags,
        summary: 'Set a price for a model from a date on (owner), e.g. for self-hosted models',
        params: projectParams,
        body: priceOverrideSchema,
        response: { 201: priceView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await admin.createPrice(request.actor, request.params.projectId, request.body)),
  );

  app.delete(
    `${base}/prices/:priceId`,
    { schema: { tags, summary: 'Remove a price override (owner)', params: priceParams } },
    async (request, reply) => {
      await admin.deletePrice(request.actor, request.params.projectId, request.params.priceId);
      return reply.status(204).send();
    },
  );

  // — budgets —
  app.get(
    `${base}/budgets`,
    {
      schema: {
        tags,
        summary: 'Budgets with the current period spend and open reservations (viewer)',
        params: projectParams,
        response: { 200: z.object({ items: z.array(budgetView) }) },
      },
    },
    async (request) => ({
      items: await admin.listBudgets(request.actor, request.params.projectId),
    }),
  );

  app.post(
    `${base}/budgets`,
    {
      schema: {
        tags,
        summary:
          'Add a budget for the project or one user, per day, week, month or in total (owner)',
        params: projectParams,
        body: budgetCreateSchema,
        response: { 201: budgetView },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await admin.createBudget(request.actor, request.params.projectId, request.body)),
  );

  app.patch(
    `${base}/budgets/:budgetId`,
    {
      schema: {
        tags,
        summary: 'Change the limits of a budget (owner); null removes a limit',
        params: budgetParams,
        body: budgetUpdateSchema,
        response: { 200: budgetView },
      },
    },
    async (request) =>
      admin.updateBudget(
        request.actor,
        request.params.projectId,
        request.params.budgetId,
        request.body,
      ),
  );

  app.delete(
    `${base}/budgets/:budgetId`,
    { schema: { tags, summary: 'Remove a budget (owner)', params: budgetParams } },
    async (request, reply) => {
      await admin.deleteBudget(request.actor, request.params.projectId, request.params.budgetId);
      return reply.status(204).send();
    },
  );

  // — spend, usage rows, cache —
  app.get(
    `${base}/spend`,
    {
      schema: {
        tags,
        summary: 'Spend by day, model, feature and/or provider (viewer); costs in nano-USD',
        params: projectParams,
        querystring: spendQuerySchema,
        response: { 200: spendView },
      },
    },
    async (request) => admin.spend(request.actor, request.params.projectId, request.query),
  );

  app.get(
    `${base}/spend/by-entity`,
    {
      schema: {
        tags,
        summary:
          'Spend by the dataset, column or run calls were made for (viewer); costs in nano-USD, ' +
          'unpricedAttempts counts attempts whose price is unknown (left out of costNano); ' +
          'the 200 costliest are listed, entityId null gathers calls made for none',
        params: projectParams,
        querystring: spendByEntityQuerySchema,
        response: { 200: entitySpendView },
      },
    },
    async (request) => admin.spendByEntity(request.actor, request.params.projectId, request.query),
  );

  app.get(
    `${base}/calls`,
    {
      schema: {
        tags,
        summary: 'Usage rows, one per attempt, newest first (viewer)',
        params: projectParams,
        querystring: callsQuery,
        response: { 200: z.object({ items: z.array(callView) }) },
      },
    },
    async (request) => ({
      items: await admin.calls(request.actor, request.params.projectId, {
        limit: request.query.limit,
        ...(request.query.before ? { before: new Date(request.query.before) } : {}),
      }),
    }),
  );

  app.get(
    `${base}/cache`,
    {
      schema: {
        tags,
        summary: 'Response cache entries, hits, misses and nano-USD saved (viewer)',
        params: projectParams,
        response: { 200: cacheStatsView },
      },
    },
    async (request) => admin.cacheStats(request.actor, request.params.projectId),
  );

  app.delete(
    `${base}/cache`,
    {
      schema: {
        tags,
        summary: "Clear the project's response cache (editor)",
        params: projectParams,
        response: { 200: z.object({ cleared: z.number().int() }) },
      },
    },
    async (request) => admin.clearCache(request.actor, request.params.projectId),
  );
};
