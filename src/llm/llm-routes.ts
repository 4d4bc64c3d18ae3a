import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { routeTable } from '../platform/http/route-definition.ts';
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
  const route = routeTable(app, ['llm']);
  const base = '/api/projects/:projectId/llm';

  // — providers of a project (instance-wide and env ones are listed too) —
  route.get(
    `${base}/providers`,
    {
      summary: 'Provider connections usable in the project (viewer); keys are masked',
      params: projectParams,
      response: providerListView,
    },
    async (request) => ({
      items: await admin.listProviders(request.actor, request.params.projectId),
    }),
  );

  route.post(
    `${base}/providers`,
    {
      summary: 'Connect a provider to the project (owner); the key is stored encrypted',
      params: projectParams,
      body: providerCreateSchema,
      response: providerView,
      status: 201,
    },
    async (request) =>
      await admin.createProvider(request.actor, request.params.projectId, request.body),
  );

  route.get(
    `${base}/providers/:providerId`,
    { summary: 'One provider connection (viewer)', params: providerParams, response: providerView },
    async (request) =>
      admin.getProvider(request.actor, request.params.projectId, request.params.providerId),
  );

  route.patch(
    `${base}/providers/:providerId`,
    {
      summary:
        'Change a provider connection (owner); apiKey: a new key, null to remove, absent to keep',
      params: providerParams,
      body: providerUpdateSchema,
      response: providerView,
    },
    async (request) =>
      admin.updateProvider(
        request.actor,
        request.params.projectId,
        request.params.providerId,
        request.body,
      ),
  );

  route.delete(
    `${base}/providers/:providerId`,
    { summary: 'Remove a provider connection (owner)', params: providerParams, status: 204 },
    async (request) => {
      await admin.deleteProvider(
        request.actor,
        request.params.projectId,
        request.params.providerId,
      );
    },
  );

  route.post(
    `${base}/providers/:providerId/test`,
    {
      summary: 'Test a connection (owner): key, reachability, and one 1-token request to a model',
      description:
        "The request is recorded as usage in this project (feature `test-connection`, with the tokens and cost the provider reports) and counts against its budgets: when a hard budget is used up the answer is `ok: false` with code `BUDGET_EXCEEDED` and no request is sent. No retry; the connection's circuit breaker does not hold it back.",
      params: providerParams,
      body: providerTestSchema.optional(),
      response: providerTestView,
    },
    async (request) =>
      admin.testProvider(
        request.actor,
        request.params.projectId,
        request.params.providerId,
        request.body ?? {},
      ),
  );

  route.get(
    `${base}/providers/:providerId/models`,
    {
      summary:
        "Models: the provider's list (when it has one) merged with the price catalog (editor)",
      description:
        "Each model with the rates a call would be priced at now, in USD per million tokens (the project's price override first, then the genai-prices catalog), and its context window. Unknown prices and windows are null, never 0.",
      params: providerParams,
      response: modelListView,
    },
    async (request) =>
      admin.listModels(request.actor, request.params.projectId, request.params.providerId),
  );

  // — instance-wide providers (administrators) —
  route.get(
    '/api/llm/providers',
    { summary: 'Instance-wide provider connections (admin)', response: providerListView },
    async (request) => ({ items: await admin.listInstanceProviders(request.actor) }),
  );

  route.post(
    '/api/llm/providers',
    {
      summary: 'Add an instance-wide provider every project may use (admin)',
      body: providerCreateSchema,
      response: providerView,
      status: 201,
    },
    async (request) => await admin.createProvider(request.actor, undefined, request.body),
  );

  route.patch(
    '/api/llm/providers/:providerId',
    {
      summary: 'Change an instance-wide provider (admin)',
      params: instanceProviderParams,
      body: providerUpdateSchema,
      response: providerView,
    },
    async (request) =>
      admin.updateProvider(request.actor, undefined, request.params.providerId, request.body),
  );

  route.delete(
    '/api/llm/providers/:providerId',
    {
      summary: 'Remove an instance-wide provider (admin)',
      params: instanceProviderParams,
      status: 204,
    },
    async (request) => {
      await admin.deleteProvider(request.actor, undefined, request.params.providerId);
    },
  );

  route.post(
    '/api/llm/providers/:providerId/test',
    {
      summary: 'Test an instance-wide or environment provider (admin)',
      description:
        'Like the project route, but with no project to charge: the request shows in the metrics and traces, not as a usage row.',
      params: instanceProviderParams,
      body: providerTestSchema.optional(),
      response: providerTestView,
    },
    async (request) =>
      admin.testProvider(request.actor, undefined, request.params.providerId, request.body ?? {}),
  );

  route.get(
    '/api/llm/providers/:providerId/models',
    {
      summary: 'Models of an instance-wide or environment provider (admin)',
      params: instanceProviderParams,
      response: modelListView,
    },
    async (request) => admin.listModels(request.actor, undefined, request.params.providerId),
  );

  // — price overrides —
  route.get(
    `${base}/prices`,
    {
      summary: 'Price overrides of the project (viewer); other models use the genai-prices catalog',
      params: projectParams,
      response: z.object({ items: z.array(priceView) }),
    },
    async (request) => ({ items: await admin.listPrices(request.actor, request.params.projectId) }),
  );

  route.post(
    `${base}/prices`,
    {
      summary: 'Set a price for a model from a date on (owner), e.g. for self-hosted models',
      params: projectParams,
      body: priceOverrideSchema,
      response: priceView,
      status: 201,
    },
    async (request) =>
      await admin.createPrice(request.actor, request.params.projectId, request.body),
  );

  route.delete(
    `${base}/prices/:priceId`,
    { summary: 'Remove a price override (owner)', params: priceParams, status: 204 },
    async (request) => {
      await admin.deletePrice(request.actor, request.params.projectId, request.params.priceId);
    },
  );

  // — budgets —
  route.get(
    `${base}/budgets`,
    {
      summary: 'Budgets with the current period spend and open reservations (viewer)',
      params: projectParams,
      response: z.object({ items: z.array(budgetView) }),
    },
    async (request) => ({
      items: await admin.listBudgets(request.actor, request.params.projectId),
    }),
  );

  route.post(
    `${base}/budgets`,
    {
      summary: 'Add a budget for the project or one user, per day, week, month or in total (owner)',
      params: projectParams,
      body: budgetCreateSchema,
      response: budgetView,
      status: 201,
    },
    async (request) =>
      await admin.createBudget(request.actor, request.params.projectId, request.body),
  );

  route.patch(
    `${base}/budgets/:budgetId`,
    {
      summary: 'Change the limits of a budget (owner); null removes a limit',
      params: budgetParams,
      body: budgetUpdateSchema,
      response: budgetView,
    },
    async (request) =>
      admin.updateBudget(
        request.actor,
        request.params.projectId,
        request.params.budgetId,
        request.body,
      ),
  );

  route.delete(
    `${base}/budgets/:budgetId`,
    { summary: 'Remove a budget (owner)', params: budgetParams, status: 204 },
    async (request) => {
      await admin.deleteBudget(request.actor, request.params.projectId, request.params.budgetId);
    },
  );

  // — spend, usage rows, cache —
  route.get(
    `${base}/spend`,
    {
      summary: 'Spend by day, model, feature and/or provider (viewer); costs in nano-USD',
      params: projectParams,
      query: spendQuerySchema,
      response: spendView,
    },
    async (request) => admin.spend(request.actor, request.params.projectId, request.query),
  );

  route.get(
    `${base}/spend/by-entity`,
    {
      summary:
        'Spend by the dataset, column or run calls were made for (viewer); costs in nano-USD, ' +
        'unpricedAttempts counts attempts whose price is unknown (left out of costNano); ' +
        'the 200 costliest are listed, entityId null gathers calls made for none',
      params: projectParams,
      query: spendByEntityQuerySchema,
      response: entitySpendView,
    },
    async (request) => admin.spendByEntity(request.actor, request.params.projectId, request.query),
  );

  route.get(
    `${base}/calls`,
    {
      summary: 'Usage rows, one per attempt, newest first (viewer)',
      params: projectParams,
      query: callsQuery,
      response: z.object({ items: z.array(callView) }),
    },
    async (request) => ({
      items: await admin.calls(request.actor, request.params.projectId, {
        limit: request.query.limit,
        ...(request.query.before ? { before: new Date(request.query.before) } : {}),
      }),
    }),
  );

  route.get(
    `${base}/cache`,
    {
      summary: 'Response cache entries, hits, misses and nano-USD saved (viewer)',
      params: projectParams,
      response: cacheStatsView,
    },
    async (request) => admin.cacheStats(request.actor, request.params.projectId),
  );

  route.delete(
    `${base}/cache`,
    {
      summary: "Clear the project's response cache (editor)",
      params: projectParams,
      response: z.object({ cleared: z.number().int() }),
    },
    async (request) => admin.clearCache(request.actor, request.params.projectId),
  );
};
