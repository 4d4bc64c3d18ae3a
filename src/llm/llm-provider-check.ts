import { findProvider } from '@pydantic/genai-prices';
import type { Actor } from '../access/actor.ts';
import { AppError, notFound } from '../platform/app-error.ts';
import { type LlmAdminDeps, parse, visibleProvider } from './llm-admin-context.ts';
import { errorCodeFor } from './llm-call-errors.ts';
import { overrideAt } from './llm-price-store.ts';
import { type ModelPriceInfo, modelPriceInfo } from './llm-prices.ts';
import { isProviderFailure, type ProviderFailure } from './llm-provider.ts';
import { providerTestSchema } from './llm-schema.ts';

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

/** Checking a connection: "test connection" and the models it offers, priced. */
export function createProviderChecks(deps: LlmAdminDeps) {
  const { registry, prices, clock } = deps;

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
    const connection = await visibleProvider(deps, actor, projectId, providerId, 'owner');
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
    const connection = await visibleProvider(deps, actor, projectId, providerId, 'editor');
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

  return { testProvider, listModels };
}
