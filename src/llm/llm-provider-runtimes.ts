import { AppError } from '../platform/app-error.ts';
import type { Clock } from './llm-clock.ts';
import type { LlmProvider } from './llm-provider.ts';
import {
  apiKeyContext,
  type EnvProvider,
  type ProviderConnection,
  type ProviderFactory,
  type SecretSealer,
  toConnection,
} from './llm-provider-connections.ts';
import type { ProviderStore } from './llm-provider-store.ts';
import { sharedLoads } from './llm-shared-loads.ts';

/** A connection with its adapter, built once and kept while its row is unchanged. */
export interface Runtime {
  connection: ProviderConnection;
  provider: LlmProvider;
  loadedAt: number;
}

/**
 * Loads provider connections and builds their adapters. An env connection is built once; a
 * stored one is trusted for `reloadMs`, then its row is read again (other servers may have
 * edited it) and its adapter rebuilt only when the row changed. The key is decrypted here.
 */
export function createRuntimes(options: {
  store: ProviderStore;
  secrets: SecretSealer;
  clock: Clock;
  factory: ProviderFactory;
  env: ReadonlyMap<string, EnvProvider>;
  reloadMs: number;
}) {
  const { store, secrets, clock, factory, env, reloadMs } = options;
  const runtimes = new Map<string, Runtime>();
  const reads = sharedLoads<Runtime | undefined>();

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
    return reads.load(id, () => reload(id));
  }

  /** Reads a stored connection again; rebuilds its adapter only when the row changed. */
  async function reload(id: string): Promise<Runtime | undefined> {
    const cached = runtimes.get(id);
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

  return {
    runtime,
    invalidate(providerId: string): void {
      runtimes.delete(providerId);
      reads.forget(providerId);
    },
  };
}
