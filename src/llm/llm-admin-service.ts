import { findProvider } from '@pydantic/genai-prices';
import type { Actor } from '../access/actor.ts';
import { AppError, conflict, forbidden, notFound, validationError } from '../platform/app-error.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { uuidv7 } from '../platform/ids.ts';
import { type LlmAdminDeps, parse } from './llm-admin-context.ts';
import { createBudgetAdmin } from './llm-budget-admin.ts';
import { presentProvider } from './llm-presenter.ts';
import { createPriceAdmin } from './llm-price-admin.ts';
import { overrideAt } from './llm-price-store.ts';
import { defaultCatalogProvider, type ModelPriceInfo, modelPriceInfo } from './llm-prices.ts';
import { isProviderFailure, type ProviderFailure } from './llm-provider.ts';
import { apiKeyContext, ENV_PROVIDER_PREFIX, maskApiKey } from './llm-provider-registry.ts';
import type { ProviderValues } from './llm-provider-store.ts';
import { providerCreateSchema, providerTestSchema, providerUpdateSchema } from './llm-schema.ts';
import { errorCodeFor } from './llm-service.ts';
import { createSpendAdmin } from './llm-spend-admin.ts';

export type { LlmAdminDeps } from './llm-admin-context.ts';

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

/**
 * The LLM admin use cases behind the routes and the CLI: provider connections here; prices,
 * budgets and spend from their own files (llm-price-admin, llm-budget-admin, llm-spend-admin).
 */
export function createLlmAdmin(deps: LlmAdminDeps) {
  const { access, secrets, registry, providers, prices, clock } = deps;

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
    ...createPriceAdmin(deps),
    ...createBudgetAdmin(deps),
    ...createSpendAdmin(deps),
  };
}

export type LlmAdmin = ReturnType<typeof createLlmAdmin>;
