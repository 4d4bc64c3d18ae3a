import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import { type RouteTable, routeTable } from '../platform/http/route-definition.ts';
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

  // — providers: a project's (instance-wide and env ones are listed too) and, for
  // administrators, the instance-wide ones. The same routes under two prefixes; the service
  // checks the role and takes `undefined` as "instance-wide".
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
  route.get(
    `${base}/providers/:providerId`,
    { summary: 'One provider connection (viewer)', params: providerParams, response: providerView },
    async (request) =>
      admin.getProvider(request.actor, request.params.projectId, request.params.providerId),
  );
  providerRoutes(route, admin, {
    prefix: `${base}/providers`,
    params: projectParams,
    providerParams,
    summaries: {
      create: 'Connect a provider to the project (owner); the key is stored encrypted',
      update:
        'Change a provider connection (owner); apiKey: a new key, null to remove, absent to keep',
      delete: 'Remove a provider connection (owner)',
      test: 'Test a connection (owner): key, reachability, and one 1-token request to a model',
      testDescription:
        "The request is recorded as usage in this project (feature `test-connection`, with the tokens and cost the provider reports) and counts against its budgets: when a hard budget is used up the answer is `ok: false` with code `BUDGET_EXCEEDED` and no request is sent. No retry; the connection's circuit breaker does not hold it back.",
      models:
        "Models: the provider's list (when it has one) merged with the price catalog (editor)",
      modelsDescription:
        "Each model with the rates a call would be priced at now, in USD per million tokens (the project's price override first, then the genai-prices catalog), and its context window. Unknown prices and windows are null, never 0.",
    },
  });

  route.get(
    '/api/llm/providers',
    { summary: 'Instance-wide provider connections (admin)', response: providerListView },
    async (request) => ({ items: await admin.listInstanceProviders(request.actor) }),
  );
  providerRoutes(route, admin, {
    prefix: '/api/llm/providers',
    providerParams: instanceProviderParams,
    summaries: {
      create: 'Add an instance-wide provider every project may use (admin)',
      update: 'Change an instance-wide provider (admin)',
      delete: 'Remove an instance-wide provider (admin)',
      test: 'Test an instance-wide or environment provider (admin)',
      testDescription:
        'Like the project route, but with no project to charge: the request shows in the metrics and traces, not as a usage row.',
      models: 'Models of an instance-wide or environment provider (admin)',
    },
  });

  // — price overrides and budgets: lists a viewer reads and an owner adds to and removes from —
  collectionRoutes(route, {
    path: `${base}/prices`,
    idParam: 'priceId',
    view: priceView,
    body: priceOverrideSchema,
    summaries: {
      list: 'Price overrides of the project (viewer); other models use the genai-prices catalog',
      create: 'Set a price for a model from a date on (owner), e.g. for self-hosted models',
      remove: 'Remove a price override (owner)',
    },
    list: admin.listPrices,
    create: admin.createPrice,
    remove: admin.deletePrice,
  });
  collectionRoutes(route, {
    path: `${base}/budgets`,
    idParam: 'budgetId',
    view: budgetView,
    body: budgetCreateSchema,
    summaries: {
      list: 'Budgets with the current period spend and open reservations (viewer)',
      create: 'Add a budget for the project or one user, per day, week, month or in total (owner)',
      remove: 'Remove a budget (owner)',
    },
    list: admin.listBudgets,
    create: admin.createBudget,
    remove: admin.deleteBudget,
  });
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

/** Where a set of provider routes lives: a project's, or the instance's (no project). */
interface ProviderScope {
  prefix: string;
  /** The project's path parameters; none for the instance's providers. */
  params?: typeof projectParams;
  /** One provider's path parameters. */
  providerParams: typeof providerParams | typeof instanceProviderParams;
  summaries: {
    create: string;
    update: string;
    delete: string;
    test: string;
    testDescription: string;
    models: string;
    modelsDescription?: string;
  };
}

/** What the scope's schemas validated: no `projectId` on the instance's routes. */
const idsOf = (params: unknown) => params as { projectId?: string; providerId: string };

/** Create, change, remove, test and list the models of a provider, under one scope. */
function providerRoutes(route: RouteTable, admin: LlmAdmin, scope: ProviderScope) {
  const { prefix, summaries, providerParams: params } = scope;
  route.post(
    prefix,
    {
      summary: summaries.create,
      ...(scope.params ? { params: scope.params } : {}),
      body: providerCreateSchema,
      response: providerView,
      status: 201,
    },
    async (request) =>
      await admin.createProvider(request.actor, idsOf(request.params).projectId, request.body),
  );
  route.patch(
    `${prefix}/:providerId`,
    { summary: summaries.update, params, body: providerUpdateSchema, response: providerView },
    async (request) => {
      const { projectId, providerId } = idsOf(request.params);
      return admin.updateProvider(request.actor, projectId, providerId, request.body);
    },
  );
  route.delete(
    `${prefix}/:providerId`,
    { summary: summaries.delete, params, status: 204 },
    async (request) => {
      const { projectId, providerId } = idsOf(request.params);
      await admin.deleteProvider(request.actor, projectId, providerId);
    },
  );
  route.post(
    `${prefix}/:providerId/test`,
    {
      summary: summaries.test,
      description: summaries.testDescription,
      params,
      body: providerTestSchema.optional(),
      response: providerTestView,
    },
    async (request) => {
      const { projectId, providerId } = idsOf(request.params);
      return admin.testProvider(request.actor, projectId, providerId, request.body ?? {});
    },
  );
  route.get(
    `${prefix}/:providerId/models`,
    {
      summary: summaries.models,
      ...(summaries.modelsDescription ? { description: summaries.modelsDescription } : {}),
      params,
      response: modelListView,
    },
    async (request) => {
      const { projectId, providerId } = idsOf(request.params);
      return admin.listModels(request.actor, projectId, providerId);
    },
  );
}

/** A project's list of records under `path`: listed, added to, and removed from by id. */
type CollectionView = typeof priceView | typeof budgetView;

interface Collection {
  path: string;
  /** The name of the id in the path (it is in the OpenAPI document). */
  idParam: string;
  view: CollectionView;
  body: z.ZodType;
  summaries: { list: string; create: string; remove: string };
  list: (actor: Actor, projectId: string) => Promise<z.input<CollectionView>[]>;
  create: (actor: Actor, projectId: string, body: unknown) => Promise<z.input<CollectionView>>;
  remove: (actor: Actor, projectId: string, id: string) => Promise<void>;
}

function collectionRoutes(route: RouteTable, collection: Collection) {
  const { path, summaries } = collection;
  route.get(
    path,
    {
      summary: summaries.list,
      params: projectParams,
      response: z.object({ items: z.array(collection.view) }),
    },
    async (request) => ({ items: await collection.list(request.actor, request.params.projectId) }),
  );
  route.post(
    path,
    {
      summary: summaries.create,
      params: projectParams,
      body: collection.body,
      response: collection.view,
      status: 201,
    },
    async (request) =>
      await collection.create(request.actor, request.params.projectId, request.body),
  );
  route.delete(
    `${path}/:${collection.idParam}`,
    {
      summary: summaries.remove,
      params: projectParams.extend({ [collection.idParam]: z.uuid() }),
      status: 204,
    },
    async (request) => {
      const params = request.params as Record<string, string>;
      await collection.remove(request.actor, params.projectId!, params[collection.idParam]!);
    },
  );
}
