import type { Actor } from '../access/actor.ts';
import { AppError, conflict, notFound, validationError } from '../platform/app-error.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { uuidv7 } from '../platform/ids.ts';
import { type LlmAdminDeps, parse, requireAdmin, visibleProvider } from './llm-admin-context.ts';
import { presentProvider } from './llm-presenter.ts';
import { defaultCatalogProvider } from './llm-prices.ts';
import { apiKeyContext, ENV_PROVIDER_PREFIX, maskApiKey } from './llm-provider-connections.ts';
import type { ProviderValues } from './llm-provider-store.ts';
import { providerCreateSchema, providerUpdateSchema } from './llm-schema.ts';

/**
 * Provider connections: a project's own (its owners manage them) and instance-wide ones
 * (administrators); env connections are listed but changed in the environment.
 */
export function createProviderAdmin(deps: LlmAdminDeps) {
  const { access, secrets, registry, providers, clock } = deps;

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
      return presentProvider(await visibleProvider(deps, actor, projectId, providerId, 'viewer'));
    },
    createProvider,
    updateProvider,
    deleteProvider,
  };
}
