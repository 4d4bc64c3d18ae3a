import { AppError, notFound } from '../platform/app-error.ts';
import type { LlmConfig } from '../platform/config.ts';
import type { Clock } from './llm-clock.ts';
import type { LlmProvider, ProviderKind } from './llm-provider.ts';
import {
  envProviders,
  type ProviderConnection,
  type ProviderFactory,
  type SecretSealer,
  toConnection,
} from './llm-provider-connections.ts';
import { createTargetGuards } from './llm-provider-guards.ts';
import { createRuntimes } from './llm-provider-runtimes.ts';
import type { FallbackTarget, ProviderStore } from './llm-provider-store.ts';
import type { RouteTarget } from './llm-router.ts';
import type { SharedRedis } from './llm-shared-redis.ts';

export {
  apiKeyContext,
  ENV_PROVIDER_PREFIX,
  maskApiKey,
  type ProviderConnection,
  type ProviderFactory,
  type ProviderFactoryOptions,
  type SecretSealer,
  toConnection,
} from './llm-provider-connections.ts';

/** Best guess of the vendor from a model name, to pick a provider when none is named. */
export function inferKind(model: string): ProviderKind | undefined {
  if (/^claude/i.test(model)) return 'anthropic';
  if (/^(gpt-|o\d|chatgpt|text-embedding|davinci|babbage)/i.test(model)) return 'openai';
  if (/^[\w.-]+\/[\w.:-]+$/.test(model)) return 'huggingface';
  return undefined;
}

/** A target with the connection it belongs to (for prices). */
export interface ResolvedTarget extends RouteTarget {
  connection: ProviderConnection;
}

export interface RegistryOptions {
  store: ProviderStore;
  secrets: SecretSealer;
  config: LlmConfig;
  clock: Clock;
  factory: ProviderFactory;
  /** How long a loaded connection is trusted before it is read again (other servers may edit it). */
  reloadMs?: number;
  /** Limits and breakers shared through Redis (several servers); none: this process's own. */
  shared?: SharedRedis | undefined;
}

/**
 * Turns provider references into runnable targets: the connection's adapter
 * (llm-provider-runtimes.ts) with its limiter and breaker (llm-provider-guards.ts), after
 * the checks that it is visible to the project, enabled and serves the model.
 */
export function createProviderRegistry(options: RegistryOptions) {
  const { store, config, clock } = options;
  const reloadMs = options.reloadMs ?? 5_000;
  const env = new Map(envProviders(config).map((entry) => [entry.connection.id, entry]));
  const { runtime, invalidate } = createRuntimes({ ...options, reloadMs, env });
  const guards = createTargetGuards(config, clock, options.shared);

  const visibleTo = (connection: ProviderConnection, projectId: string) =>
    connection.projectId === undefined || connection.projectId === projectId;

  async function listConnections(projectId: string | undefined): Promise<ProviderConnection[]> {
    const stored = (await store.listVisible(projectId)).map(toConnection);
    return [...stored, ...[...env.values()].map((entry) => entry.connection)];
  }

  /** Which connection serves `model` when the caller named none. */
  async function pick(projectId: string, model: string): Promise<ProviderConnection> {
    const candidates = (await listConnections(projectId)).filter((c) => c.enabled);
    const listed = candidates.find((c) => c.models.includes(model));
    if (listed) return listed;
    const kind = inferKind(model);
    const open = candidates.filter((c) => c.models.length === 0);
    const match =
      (kind && open.find((c) => c.kind === kind)) ?? (open.length === 1 ? open[0] : undefined);
    if (match) return match;
    throw new AppError(
      'VALIDATION_ERROR',
      `No provider is configured for model "${model}"; name one`,
      {
        details: { issues: [{ path: 'provider', message: 'required for this model' }], model },
      },
    );
  }

  async function target(
    projectId: string,
    providerId: string,
    model: string,
  ): Promise<ResolvedTarget> {
    const loaded = await runtime(providerId);
    if (!loaded || !visibleTo(loaded.connection, projectId)) throw notFound('provider', providerId);
    const { connection } = loaded;
    if (!connection.enabled) {
      throw new AppError('VALIDATION_ERROR', `Provider "${connection.name}" is disabled`, {
        details: { issues: [{ path: 'provider', message: 'disabled' }] },
      });
    }
    if (connection.models.length > 0 && !connection.models.includes(model)) {
      throw new AppError(
        'VALIDATION_ERROR',
        `Model "${model}" is not enabled on provider "${connection.name}"`,
        {
          details: {
            issues: [{ path: 'model', message: 'not enabled on this provider' }],
            enabled: connection.models,
          },
        },
      );
    }
    return {
      connection,
      providerRef: connection.id,
      kind: connection.kind,
      provider: loaded.provider,
      model,
      limiter: guards.limiterFor(connection),
      breaker: guards.breakerFor(connection, model),
    };
  }

  return {
    listConnections,
    /** A connection visible to the project (its own, instance-wide or env), or NOT_FOUND. */
    async connection(
      projectId: string | undefined,
      providerId: string,
    ): Promise<ProviderConnection> {
      const loaded = await runtime(providerId);
      if (!loaded || (projectId !== undefined && !visibleTo(loaded.connection, projectId))) {
        throw notFound('provider', providerId);
      }
      if (projectId === undefined && loaded.connection.projectId !== undefined) {
        throw notFound('provider', providerId);
      }
      return loaded.connection;
    },

    async provider(providerId: string): Promise<LlmProvider | undefined> {
      return (await runtime(providerId))?.provider;
    },

    /**
     * The requested model first, then its fallback chain: the per-call list when given, else the
     * one stored on the provider for this model. Fallbacks that cannot be resolved are skipped.
     */
    async targets(
      projectId: string,
      providerId: string | undefined,
      model: string,
      fallbacks: readonly FallbackTarget[] | undefined,
    ): Promise<ResolvedTarget[]> {
      const primaryId = providerId ?? (await pick(projectId, model)).id;
      const primary = await target(projectId, primaryId, model);
      const chain = fallbacks ?? primary.connection.fallbacks[model] ?? [];
      const list = [primary];
      for (const fallback of chain) {
        try {
          const next = await target(projectId, fallback.provider ?? primaryId, fallback.model);
          if (!list.some((t) => t.providerRef === next.providerRef && t.model === next.model))
            list.push(next);
        } catch {
          // A fallback that was deleted or disabled is skipped, not fatal.
        }
      }
      return list;
    },

    invalidate,

    /** For tests and /metrics: the live limiter of a provider. */
    limiter: guards.limiter,
    breaker: guards.breaker,
    closeGuards: guards.close,
  };
}

export type ProviderRegistry = ReturnType<typeof createProviderRegistry>;
