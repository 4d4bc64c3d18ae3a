import { AppError, notFound } from '../platform/app-error.ts';
import type { LlmConfig } from '../platform/config.ts';
import { CircuitBreaker } from './llm-breaker.ts';
import type { Clock } from './llm-clock.ts';
import { AdaptiveLimiter } from './llm-limiter.ts';
import type { LlmProvider, ProviderKind } from './llm-provider.ts';
import type { FallbackTarget, ProviderRecord, ProviderStore } from './llm-provider-store.ts';
import type { RouteTarget } from './llm-router.ts';

/** Seals provider keys at rest; src/platform/crypto.ts's SecretBox fits this shape. */
export interface SecretSealer {
  encrypt(plaintext: string, context?: string): string;
  decrypt(sealed: string, context?: string): string;
}

/** The AAD a provider key is bound to, so a sealed key copied to another row does not open. */
export const apiKeyContext = (providerId: string) => `llm_provider.api_key:${providerId}`;

/** A provider connection as the service sees it: stored, or configured by environment. */
export interface ProviderConnection extends Omit<ProviderRecord, 'sealedApiKey'> {
  source: 'project' | 'instance' | 'env';
  hasApiKey: boolean;
}

export interface ProviderFactoryOptions {
  kind: ProviderKind;
  baseUrl: string | undefined;
  apiKey: string | undefined;
}

export type ProviderFactory = (options: ProviderFactoryOptions) => LlmProvider;

export const ENV_PROVIDER_PREFIX = 'env:';

/** Keys shown to people: enough to recognise one, never enough to use it. */
export function maskApiKey(key: string): string {
  if (key.length < 12) return '****';
  const prefix = /^(sk-ant-|sk-proj-|sk-|hf_)/.exec(key)?.[0] ?? '';
  return `${prefix}…${key.slice(-4)}`;
}

interface EnvProvider {
  connection: ProviderConnection;
  apiKey: string | undefined;
}

function envProviders(config: LlmConfig): EnvProvider[] {
  const at = new Date(0);
  const make = (
    kind: ProviderKind,
    apiKey: string | undefined,
    baseUrl: string | undefined,
  ): EnvProvider => ({
    apiKey,
    connection: {
      id: `${ENV_PROVIDER_PREFIX}${kind}`,
      projectId: undefined,
      name: `${kind} (env)`,
      kind,
      baseUrl,
      apiKeyHint: apiKey ? maskApiKey(apiKey) : undefined,
      hasApiKey: apiKey !== undefined,
      models: [],
      fallbacks: {},
      maxConcurrency: config.maxConcurrency,
      requestsPerMinute: config.requestsPerMinute,
      catalogProvider: kind === 'openai' || kind === 'anthropic' ? kind : undefined,
      enabled: true,
      createdAt: at,
      updatedAt: at,
      source: 'env',
    },
  });
  const list: EnvProvider[] = [];
  const env = config.env;
  if (env.openaiApiKey) list.push(make('openai', env.openaiApiKey, env.openaiBaseUrl));
  if (env.anthropicApiKey) list.push(make('anthropic', env.anthropicApiKey, env.anthropicBaseUrl));
  if (env.hfToken) list.push(make('huggingface', env.hfToken, undefined));
  if (env.compatibleBaseUrl) {
    list.push(make('openai-compatible', env.compatibleApiKey, env.compatibleBaseUrl));
  }
  return list;
}

export function toConnection(record: ProviderRecord): ProviderConnection {
  const { sealedApiKey, ...rest } = record;
  return {
    ...rest,
    source: record.projectId === undefined ? 'instance' : 'project',
    hasApiKey: sealedApiKey !== undefined,
  };
}

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

interface Runtime {
  connection: ProviderConnection;
  provider: LlmProvider;
  loadedAt: number;
}

export interface RegistryOptions {
  store: ProviderStore;
  secrets: SecretSealer;
  config: LlmConfig;
  clock: Clock;
  factory: ProviderFactory;
  /** How long a loaded connection is trusted before it is read again (other servers may edit it). */
  reloadMs?: number;
}

/**
 * Turns provider references into runnable targets. Limiters (per provider) and breakers (per
 * provider+model) live as long as the process and survive configuration reloads, so a
 * provider's learned concurrency and open circuits are kept when someone edits its name.
 */
export function createProviderRegistry(options: RegistryOptions) {
  const { store, secrets, config, clock, factory } = options;
  const reloadMs = options.reloadMs ?? 5_000;
  const env = new Map(envProviders(config).map((entry) => [entry.connection.id, entry]));
  const runtimes = new Map<string, Runtime>();
  const limiters = new Map<string, AdaptiveLimiter>();
  const breakers = new Map<string, CircuitBreaker>();

  const limiterFor = (connection: ProviderConnection) => {
    const settings = {
      maxConcurrency: connection.maxConcurrency,
      requestsPerMinute: connection.requestsPerMinute,
    };
    let limiter = limiters.get(connection.id);
    if (!limiter) {
      limiter = new AdaptiveLimiter(settings, clock);
      limiters.set(connection.id, limiter);
    } else if (
      limiter.settings.maxConcurrency !== settings.maxConcurrency ||
      limiter.settings.requestsPerMinute !== settings.requestsPerMinute
    ) {
      limiter.configure(settings);
    }
    return limiter;
  };

  const breakerFor = (connection: ProviderConnection, model: string) => {
    const key = `${connection.id}\u0000${model}`;
    let breaker = breakers.get(key);
    if (!breaker) {
      breaker = new CircuitBreaker(
        {
          failureThreshold: config.breakerFailures,
          // Weigh about two rounds of in-flight calls: with 256 at once, a burst of dropped
          // keep-alive connections is a minority of recent outcomes, not a provider outage.
          window: Math.max(20, connection.maxConcurrency * 2),
          openMs: config.breakerOpenMs,
          maxOpenMs: config.breakerOpenMs * 10,
        },
        clock,
      );
      breakers.set(key, breaker);
    }
    return breaker;
  };

  const build = (connection: ProviderConnection, apiKey: string | undefined): Runtime => ({
    connection,
    provider: factory({ kind: connection.kind, baseUrl: connection.baseUrl, apiKey }),
    loadedAt: clock.now(),
  });

  /** Loads (or reuses) the runtime of a provider id; no access check. */
  async function runtime(id: string): Promise<Runtime | undefined> {
    const envEntry = env.get(id);
    if (envEntry) {
      let cached = runtimes.get(id);
      if (!cached) {
        cached = build(envEntry.connection, envEntry.apiKey);
        runtimes.set(id, cached);
      }
      return cached;
    }
    const cached = runtimes.get(id);
    if (cached && clock.now() - cached.loadedAt < reloadMs) return cached;
    const record = await store.find(id);
    if (!record) {
      runtimes.delete(id);
      return undefined;
    }
    if (cached && cached.connection.updatedAt.getTime() === record.updatedAt.getTime()) {
      cached.loadedAt = clock.now();
      return cached;
    }
    let apiKey: string | undefined;
    try {
      apiKey =
        record.sealedApiKey === undefined
          ? undefined
          : secrets.decrypt(record.sealedApiKey, apiKeyContext(record.id));
    } catch {
      throw new AppError(
        'PROVIDER_ERROR',
        `The stored API key of provider "${record.name}" cannot be decrypted (was BRAINCELLS_SECRET changed?); enter the key again`,
        { retryable: false, details: { provider: record.id, reason: 'key-unreadable' } },
      );
    }
    const fresh = build(toConnection(record), apiKey);
    runtimes.set(id, fresh);
    return fresh;
  }

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
      limiter: limiterFor(connection),
      breaker: breakerFor(connection, model),
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

    invalidate(providerId: string): void {
      runtimes.delete(providerId);
    },

    /** For tests and /metrics: the live limiter of a provider. */
    limiter(providerId: string): AdaptiveLimiter | undefined {
      return limiters.get(providerId);
    },

    breaker(providerId: string, model: string): CircuitBreaker | undefined {
      return breakers.get(`${providerId}\u0000${model}`);
    },
  };
}

export type ProviderRegistry = ReturnType<typeof createProviderRegistry>;
