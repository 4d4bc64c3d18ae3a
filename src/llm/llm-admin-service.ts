import { findProvider } from '@pydantic/genai-prices';
import type { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { AppError, conflict, forbidden, notFound, validationError } from '../platform/app-error.ts';
import type { LlmConfig } from '../platform/config.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { BudgetGuard } from './llm-budget-guard.ts';
import type { BudgetPeriod, BudgetStore } from './llm-budget-store.ts';
import type { ResponseCache } from './llm-cache.ts';
import type { Clock } from './llm-clock.ts';
import {
  presentBudget,
  presentCall,
  presentPriceOverride,
  presentProvider,
} from './llm-presenter.ts';
import { overrideAt, type PriceStore } from './llm-price-store.ts';
import {
  defaultCatalogProvider,
  type ModelPriceInfo,
  modelPriceInfo,
  usdPerMtokToNano,
} from './llm-prices.ts';
import { isProviderFailure, type ProviderFailure } from './llm-provider.ts';
import {
  apiKeyContext,
  ENV_PROVIDER_PREFIX,
  maskApiKey,
  type ProviderRegistry,
  type SecretSealer,
} from './llm-provider-registry.ts';
import type { ProviderStore, ProviderValues } from './llm-provider-store.ts';
import {
  budgetCreateSchema,
  budgetUpdateSchema,
  parseSince,
  priceOverrideSchema,
  providerCreateSchema,
  providerTestSchema,
  providerUpdateSchema,
  spendByEntityQuerySchema,
  spendQuerySchema,
} from './llm-schema.ts';
import { errorCodeFor, type LlmService } from './llm-service.ts';
import type { CallStatsDimension, SpendDimension, UsageStore } from './llm-usage-store.ts';

export interface LlmAdminDeps {
  config: LlmConfig;
  clock: Clock;
  access: ProjectAccess;
  secrets: SecretSealer;
  registry: ProviderRegistry;
  providers: ProviderStore;
  prices: PriceStore;
  budgetStore: BudgetStore;
  budgets: BudgetGuard;
  usage: UsageStore;
  cache: ResponseCache;
  llm: LlmService;
}

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.join('.') || '(body)',
    message: issue.message,
  }));
  const first = issues[0];
  throw validationError(
    first ? `Invalid ${first.path}: ${first.message}` : 'Invalid input',
    issues,
  );
}

/** Test-connection answer: ok, or a plain-language reason a person can act on. */
export interface ProviderTestResult {
  ok: boolean;
  latencyMs: number;
  /** Models the provider lists (undefined when it has no list endpoint). */
  models: string[] | undefined;
  /** The model a one-token request was sent to, if any. */
  modelChecked: string | undefined;
  error:
    | { code: string; reason: string; message: string; httpStatus: number | undefined }
    | undefined;
}

function explain(
  failure: ProviderFailure,
  context: { baseUrl: string | undefined; model?: string | undefined },
): string {
  switch (failure.kind) {
    case 'authentication':
      return 'The provider rejected the API key. Check that it is correct and active.';
    case 'permission':
      return 'The API key is valid but may not use this model or endpoint.';
    case 'model-not-found':
      return context.model
        ? `The provider does not know the model "${context.model}".`
        : 'The provider does not offer this endpoint; check the base URL.';
    case 'network':
      return `Could not reach ${context.baseUrl ?? 'the provider'}: check the base URL and that the server is running.`;
    case 'rate-limited':
      return 'The provider is rate limiting this key right now; the connection itself works.';
    default:
      return failure.message;
  }
}

/** Provider, price, budget, spend and cache use cases behind the routes and the CLI. */
export function createLlmAdmin(deps: LlmAdminDeps) {
  const {
    access,
    secrets,
    registry,
    providers,
    prices,
    budgetStore,
    budgets,
    usage,
    cache,
    clock,
  } = deps;

  const requireAdmin = (actor: Actor) => {
    if (!actor.isAdmin)
      throw forbidden('Only an instance administrator manages instance-wide providers');
  };

  /** Access to a provider by id in a scope: a project's own (owner), or instance-wide (admin). */
  async function editableProvider(actor: Actor, projectId: string | undefined, providerId: string) {
    if (projectId === undefined) requireAdmin(actor);
    else await access.requireRole(actor, projectId, 'owner');
    if (providerId.startsWith(ENV_PROVIDER_PREFIX)) {
      throw new AppError(
        'CONFLICT',
        'Providers configured by environment are changed in the environment',
      );
    }
    const record = await providers.find(providerId);
    if (!record || record.projectId !== projectId) throw notFound('provider', providerId);
    return record;
  }

  function sealKey(providerId: string, apiKey: string) {
    return {
      sealedApiKey: secrets.encrypt(apiKey, apiKeyContext(providerId)),
      apiKeyHint: maskApiKey(apiKey),
    };
  }

  async function createProvider(actor: Actor, projectId: string | undefined, input: unknown) {
    if (projectId === undefined) requireAdmin(actor);
    else await access.requireRole(actor, projectId, 'owner');
    const body = parse(providerCreateSchema, input);
    const id = uuidv7(clock.now());
    const values: ProviderValues = {
      name: body.name,
      kind: body.kind,
      baseUrl: body.baseUrl,
      ...(body.apiKey === undefined
        ? { sealedApiKey: undefined, apiKeyHint: undefined }
        : sealKey(id, body.apiKey)),
      models: [...new Set(body.models ?? [])],
      fallbacks: body.fallbacks ?? {},
      maxConcurrency: body.maxConcurrency ?? deps.config.maxConcurrency,
      requestsPerMinute: body.requestsPerMinute ?? undefined,
      catalogProvider: body.catalogProvider ?? defaultCatalogProvider(body.kind),
      enabled: body.enabled ?? true,
    };
    try {
      const record = await providers.insert(id, projectId, values, actor.userId);
      return presentProvider(await registry.connection(projectId, record.id));
    } catch (error) {
      if (isUniqueViolation(error))
        throw conflict(`A provider named "${body.name}" already exists`);
      throw error;
    }
  }

  async function updateProvider(
    actor: Actor,
    projectId: string | undefined,
    providerId: string,
    input: unknown,
  ) {
    const record = await editableProvider(actor, projectId, providerId);
    const body = parse(providerUpdateSchema, input);
    const key =
      body.apiKey === undefined
        ? { sealedApiKey: record.sealedApiKey, apiKeyHint: record.apiKeyHint }
        : body.apiKey === null
          ? { sealedApiKey: undefined, apiKeyHint: undefined }
          : sealKey(record.id, body.apiKey);
    const baseUrl = body.baseUrl === undefined ? record.baseUrl : (body.baseUrl ?? undefined);
    if (record.kind === 'openai-compatible' && baseUrl === undefined) {
      throw validationError('Invalid baseUrl: an openai-compatible provider needs a baseUrl', [
        { path: 'baseUrl', message: 'required for openai-compatible' },
      ]);
    }
    const values: ProviderValues = {
      name: body.name ?? record.name,
      kind: record.kind,
      baseUrl,
      ...key,
      models: body.models ? [...new Set(body.models)] : record.models,
      fallbacks: body.fallbacks ?? record.fallbacks,
      maxConcurrency: body.maxConcurrency ?? record.maxConcurrency,
      requestsPerMinute:
        body.requestsPerMinute === undefined
          ? record.requestsPerMinute
          : (body.requestsPerMinute ?? undefined),
      catalogProvider:
        body.catalogProvider === undefined
          ? record.catalogProvider
          : (body.catalogProvider ?? undefined),
      enabled: body.enabled ?? record.enabled,
    };
    try {
      await providers.update(record.id, values);
    } catch (error) {
      if (isUniqueViolation(error))
        throw conflict(`A provider named "${values.name}" already exists`);
      throw error;
    }
    registry.invalidate(record.id);
    return presentProvider(await registry.connection(projectId, record.id));
  }

  async function deleteProvider(actor: Actor, projectId: string | undefined, providerId: string) {
    const record = await editableProvider(actor, projectId, providerId);
    await providers.delete(record.id);
    registry.invalidate(record.id);
  }

  /** A provider visible in the scope (project members see instance-wide and env ones too). */
  async function visibleProvider(
    actor: Actor,
    projectId: string | undefined,
    providerId: string,
    role: 'viewer' | 'editor' | 'owner',
  ) {
    if (projectId === undefined) requireAdmin(actor);
    else await access.requireRole(actor, projectId, role);
    return registry.connection(projectId, providerId);
  }

  /**
   * Lists the models, then sends one request of at most 1 output token through the LLM
   * service's probe: recorded as usage (feature `test-connection`) in the project it was run
   * from, budgeted and traced like any call. 15 s in all.
   */
  async function testProvider(
    actor: Actor,
    projectId: string | undefined,
    providerId: string,
    input: unknown = {},
  ): Promise<ProviderTestResult> {
    const connection = await visibleProvider(actor, projectId, providerId, 'owner');
    const body = parse(providerTestSchema, input);
    const provider = await registry.provider(providerId);
    if (!provider) throw notFound('provider', providerId);
    const started = clock.now();
    const limitMs = 15_000;
    const signal = AbortSignal.timeout(limitMs);
    let models: string[] | undefined;
    const model = body.model ?? connection.models[0];
    const failed = (error: ProviderTestResult['error']): ProviderTestResult => ({
      ok: false,
      latencyMs: clock.now() - started,
      models,
      modelChecked: model,
      error,
    });
    try {
      models = await provider.listModels(signal);
      if (model !== undefined) {
        await deps.llm.probe({
          projectId,
          userId: actor.userId,
          target: {
            connection,
            providerRef: connection.id,
            kind: connection.kind,
            provider,
            model,
          },
          timeoutMs: Math.max(1, limitMs - (clock.now() - started)),
        });
      }
      return {
        ok: true,
        latencyMs: clock.now() - started,
        models,
        modelChecked: model,
        error: undefined,
      };
    } catch (error) {
      if (error instanceof AppError && error.code === 'BUDGET_EXCEEDED') {
        return failed({
          code: error.code,
          reason: 'budget-exceeded',
          message: `${error.message}; the test request was not sent.`,
          httpStatus: undefined,
        });
      }
      const failure = isProviderFailure(error) ? error : undefined;
      const timedOut = signal.aborted || failure?.kind === 'timeout';
      return failed({
        code: timedOut ? 'TIMEOUT' : errorCodeFor(failure?.kind ?? 'unknown'),
        reason: timedOut ? 'timeout' : (failure?.kind ?? 'unknown'),
        message: timedOut
          ? 'The provider did not answer within 15 seconds.'
          : failure
            ? explain(failure, {
                baseUrl: connection.baseUrl,
                model: failure.kind === 'model-not-found' ? model : undefined,
              })
            : 'The test failed unexpectedly.',
        httpStatus: failure?.status,
      });
    }
  }

  /**
   * Models from the provider (when it lists them) merged with the price catalog and the enabled
   * list, each with the rates a call would be priced at now (the project's override first, then
   * the catalog) and the context window; unknown stays null.
   */
  async function listModels(actor: Actor, projectId: string | undefined, providerId: string) {
    const connection = await visibleProvider(actor, projectId, providerId, 'editor');
    const provider = await registry.provider(providerId);
    let offered: string[] | undefined;
    let listError: string | undefined;
    try {
      offered = await provider?.listModels(AbortSignal.timeout(15_000));
    } catch (error) {
      listError = isProviderFailure(error)
        ? error.message
        : 'the provider could not list its models';
    }
    const catalogId = connection.catalogProvider;
    const catalog = catalogId ? (findProvider({ providerId: catalogId })?.models ?? []) : [];
    const overrides = projectId === undefined ? [] : await prices.list(projectId);
    const now = new Date(clock.now());
    type ModelEntry = {
      id: string;
      name: string | null;
      offered: boolean;
      inCatalog: boolean;
      enabled: boolean;
    };
    const byId = new Map<string, ModelEntry>();
    const entry = (id: string) => {
      let found = byId.get(id);
      if (!found) {
        found = { id, name: null, offered: false, inCatalog: false, enabled: false };
        byId.set(id, found);
      }
      return found;
    };
    for (const id of offered ?? []) entry(id).offered = true;
    for (const model of catalog) {
      if (model.deprecated) continue;
      const found = entry(model.id);
      found.inCatalog = true;
      found.name = model.name ?? null;
    }
    for (const id of connection.models) entry(id).enabled = true;
    const models: (ModelEntry & ModelPriceInfo)[] = [...byId.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((model) => {
        const info = modelPriceInfo(model.id, {
          catalogProviderId: catalogId,
          override: overrideAt(overrides, model.id, now)?.rates,
          at: now,
        });
        return { ...model, ...info };
      });
    return {
      providerListsModels: offered !== undefined,
      ...(listError ? { listError } : {}),
      models,
    };
  }

  return {
    async listProviders(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return (await registry.listConnections(projectId)).map(presentProvider);
    },
    async listInstanceProviders(actor: Actor) {
      requireAdmin(actor);
      return (await registry.listConnections(undefined)).map(presentProvider);
    },
    async getProvider(actor: Actor, projectId: string | undefined, providerId: string) {
      return presentProvider(await visibleProvider(actor, projectId, providerId, 'viewer'));
    },
    createProvider,
    updateProvider,
    deleteProvider,
    testProvider,
    listModels,

    async listPrices(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return (await prices.list(projectId)).map(presentPriceOverride);
    },
    async createPrice(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'owner');
      const body = parse(priceOverrideSchema, input);
      try {
        const override = await prices.insert({
          id: uuidv7(clock.now()),
          projectId,
          model: body.model,
          rates: {
            inputNanoPerMtok: usdPerMtokToNano(body.inputUsdPerMtok),
            outputNanoPerMtok: usdPerMtokToNano(body.outputUsdPerMtok),
            cacheReadNanoPerMtok:
              body.cacheReadUsdPerMtok === undefined
                ? undefined
                : usdPerMtokToNano(body.cacheReadUsdPerMtok),
            cacheWriteNanoPerMtok:
              body.cacheWriteUsdPerMtok === undefined
                ? undefined
                : usdPerMtokToNano(body.cacheWriteUsdPerMtok),
          },
          validFrom: body.validFrom ? new Date(body.validFrom) : new Date(clock.now()),
          createdBy: actor.userId,
        });
        deps.llm.invalidatePrices(projectId);
        return presentPriceOverride(override);
      } catch (error) {
        if (isUniqueViolation(error))
          throw conflict('A price for this model already starts at that moment');
        throw error;
      }
    },
    async deletePrice(actor: Actor, projectId: string, priceId: string) {
      await access.requireRole(actor, projectId, 'owner');
      if (!(await prices.delete(projectId, priceId))) throw notFound('price', priceId);
      deps.llm.invalidatePrices(projectId);
    },

    async listBudgets(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const list = await budgetStore.list(projectId);
      const states = await budgetStore.states(list, new Date(clock.now()));
      return list.map((budget, index) => presentBudget(budget, states[index]));
    },
    /**
     * Replaces a gateway key's budgets (src/gateway): one hard limit per period, settled through
     * the same reservations as every call. The gateway checks the key belongs to the project.
     */
    async setGatewayKeyBudgets(
      actor: Actor,
      projectId: string,
      gatewayKeyId: string,
      limits: readonly { period: BudgetPeriod; hardLimitNano: number }[],
    ) {
      await access.requireRole(actor, projectId, 'owner');
      await deps.llm.flush();
      await budgetStore.replaceForGatewayKey(
        projectId,
        gatewayKeyId,
        limits.map((limit) => ({ ...limit, id: uuidv7(clock.now()) })),
        actor.userId,
      );
      budgets.invalidate(projectId);
    },

    /** A gateway key's budgets with their current spend (viewer). */
    async gatewayKeyBudgets(actor: Actor, projectId: string, gatewayKeyId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const list = await budgetStore.listForGatewayKey(projectId, gatewayKeyId);
      const states = await budgetStore.states(list, new Date(clock.now()));
      return list.map((budget, index) => presentBudget(budget, states[index]));
    },

    async createBudget(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'owner');
      const body = parse(budgetCreateSchema, input);
      // A new budget's period starts from the spend in llm_calls: write buffered rows first.
      await deps.llm.flush();
      try {
        const budget = await budgetStore.insert({
          id: uuidv7(clock.now()),
          projectId,
          userId: body.userId,
          period: body.period,
          hardLimitNano: body.hardLimitNano,
          softLimitNano: body.softLimitNano,
          createdBy: actor.userId,
        });
        budgets.invalidate(projectId);
        const [state] = await budgetStore.states([budget], new Date(clock.now()));
        return presentBudget(budget, state);
      } catch (error) {
        if (isUniqueViolation(error))
          throw conflict('This project already has a budget for that scope and period');
        if ((error as { code?: unknown } | undefined)?.code === '23503') {
          throw validationError('Invalid userId: no such user', [
            { path: 'userId', message: 'no such user' },
          ]);
        }
        throw error;
      }
    },
    async updateBudget(actor: Actor, projectId: string, budgetId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'owner');
      const body = parse(budgetUpdateSchema, input);
      const current = await budgetStore.find(projectId, budgetId);
      if (!current) throw notFound('budget', budgetId);
      const hard =
        body.hardLimitNano === undefined
          ? current.hardLimitNano
          : (body.hardLimitNano ?? undefined);
      const soft =
        body.softLimitNano === undefined
          ? current.softLimitNano
          : (body.softLimitNano ?? undefined);
      if (hard === undefined && soft === undefined) {
        throw validationError('A budget needs a hard or a soft limit', [
          { path: 'hardLimitNano', message: 'set a hard or a soft limit' },
        ]);
      }
      const budget = await budgetStore.update(projectId, budgetId, {
        ...(body.hardLimitNano === undefined ? {} : { hardLimitNano: body.hardLimitNano }),
        ...(body.softLimitNano === undefined ? {} : { softLimitNano: body.softLimitNano }),
      });
      if (!budget) throw notFound('budget', budgetId);
      budgets.invalidate(projectId);
      const [state] = await budgetStore.states([budget], new Date(clock.now()));
      return presentBudget(budget, state);
    },
    async deleteBudget(actor: Actor, projectId: string, budgetId: string) {
      await access.requireRole(actor, projectId, 'owner');
      if (!(await budgetStore.delete(projectId, budgetId))) throw notFound('budget', budgetId);
      budgets.invalidate(projectId);
    },

    /** Spend by day, model, feature and/or provider over a window (default: the last 30 days). */
    async spend(actor: Actor, projectId: string, input: unknown = {}) {
      await access.requireRole(actor, projectId, 'viewer');
      const query = parse(spendQuerySchema, input);
      const now = new Date(clock.now());
      const since = parseSince(query.since, now);
      const until = query.until
        ? new Date(new Date(`${query.until}T00:00:00Z`).getTime() + 86_400_000)
        : undefined;
      const groupBy = (query.groupBy?.split(',') ?? []) as SpendDimension[];
      await deps.llm.flush();
      const rows = await usage.spend({ projectId, since, until, groupBy });
      const total = rows.reduce(
        (sum, row) => ({
          costNano: sum.costNano + row.costNano,
          calls: sum.calls + row.calls,
          unpricedAttempts: sum.unpricedAttempts + row.unpricedAttempts,
          savedNano: sum.savedNano + row.savedNano,
        }),
        { costNano: 0, calls: 0, unpricedAttempts: 0, savedNano: 0 },
      );
      return {
        since: since.toISOString().slice(0, 10),
        until: until ? new Date(until.getTime() - 86_400_000).toISOString().slice(0, 10) : null,
        groupBy,
        total,
        rows,
      };
    },

    /** Spend by the dataset, column or run calls were made for, over a window (default 30 days). */
    async spendByEntity(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'viewer');
      const query = parse(spendByEntityQuerySchema, input);
      const now = new Date(clock.now());
      const since = parseSince(query.since, now);
      const until = query.until
        ? new Date(new Date(`${query.until}T00:00:00Z`).getTime() + 86_400_000)
        : undefined;
      await deps.llm.flush();
      const rows = await usage.spendByEntity({ projectId, since, until, by: query.by });
      return {
        since: since.toISOString().slice(0, 10),
        until: until ? new Date(until.getTime() - 86_400_000).toISOString().slice(0, 10) : null,
        by: query.by,
        rows,
      };
    },

    /**
     * Our own calls grouped by feature, model or dataset with latency p50/p95, error and
     * cache-hit counts (the monitor's own-calls view reads this; docs/monitor.md).
     */
    async callStats(
      actor: Actor,
      projectId: string,
      query: { by: CallStatsDimension; since?: Date | undefined },
    ) {
      await access.requireRole(actor, projectId, 'viewer');
      await deps.llm.flush();
      return usage.callStats({ projectId, by: query.by, since: query.since });
    },

    /** The newest usage rows (one per attempt), newest first. */
    async calls(actor: Actor, projectId: string, options: { limit?: number; before?: Date } = {}) {
      await access.requireRole(actor, projectId, 'viewer');
      await deps.llm.flush();
      const limit = Math.min(Math.max(options.limit ?? 100, 1), 1_000);
      return (await usage.recent(projectId, limit, options.before)).map(presentCall);
    },

    async cacheStats(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await deps.llm.flush();
      const [totals] = await usage.spend({ projectId, since: new Date(0), groupBy: [] });
      return {
        entries: await cache.entries(projectId),
        hits: totals?.cacheHits ?? 0,
        misses: totals?.cacheMisses ?? 0,
        savedNano: totals?.savedNano ?? 0,
      };
    },

    async clearCache(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'editor');
      return { cleared: await cache.clear(projectId) };
    },
  };
}

export type LlmAdmin = ReturnType<typeof createLlmAdmin>;
