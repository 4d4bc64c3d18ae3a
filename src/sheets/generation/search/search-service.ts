import type { GenerationConfig } from '../../../platform/config.ts';
import type { Logger } from '../../../platform/logger.ts';
import { canonicalJson, sha256 } from '../prompt-template.ts';
import { createKeyedSearch, KEYED_SEARCH_NAMES, type KeyedSearchName } from './search-keyed.ts';
import {
  SearchFailure,
  type SearchProvider,
  type SearchProviderName,
  type SearchSource,
} from './search-provider.ts';
import { createSearxngSearch } from './search-searxng.ts';

/** Cached results, shared by every server (PostgreSQL) — see generation-store.ts. */
export interface SearchCache {
  get(
    key: string,
  ): Promise<{ provider: string; results: SearchSource[]; createdAt: Date } | undefined>;
  put(key: string, provider: string, results: SearchSource[]): Promise<void>;
}

export type SearchOutcome =
  | { ok: true; sources: SearchSource[]; provider: SearchProviderName; cached: boolean }
  /** Search unconfigured or every provider failed: generate without sources, flag the cell. */
  | { ok: false; reason: string };

/** The adapters configured by key or URL, in a fixed order of preference. */
export function searchProvidersFromConfig(
  config: GenerationConfig['search'],
  fetchImpl?: typeof fetch,
): SearchProvider[] {
  const providers: SearchProvider[] = [];
  const extra = fetchImpl ? { fetch: fetchImpl } : {};
  const keys = {
    serper: config.serperApiKey,
    brave: config.braveApiKey,
    tavily: config.tavilyApiKey,
  } satisfies Record<KeyedSearchName, string | undefined>;
  for (const name of KEYED_SEARCH_NAMES) {
    const apiKey = keys[name];
    if (apiKey) providers.push(createKeyedSearch(name, { apiKey, ...extra }));
  }
  if (config.searxngUrl)
    providers.push(createSearxngSearch({ baseUrl: config.searxngUrl, ...extra }));
  return providers;
}

const MEMORY_ENTRIES = 1_000;
export const MAX_QUERY = 400;

/**
 * Web search for grounding. Tries the configured providers in order; results are cached (in
 * memory, then PostgreSQL) by provider set + query + limit for `cacheTtlMs`. A search never
 * throws for a provider problem: it answers `{ ok: false, reason }` and the caller generates
 * without sources. Only the caller's own cancellation propagates.
 */
export function createSearchService(options: {
  providers: readonly SearchProvider[];
  cache: SearchCache | undefined;
  cacheTtlMs: number;
  timeoutMs: number;
  limit: number;
  logger: Logger;
  now?: () => number;
}) {
  const { providers, cache, cacheTtlMs, timeoutMs, limit, logger } = options;
  const now = options.now ?? Date.now;
  const memory = new Map<
    string,
    { at: number; provider: SearchProviderName; sources: SearchSource[] }
  >();
  const inFlight = new Map<string, Promise<SearchOutcome>>();
  const names = providers.map((provider) => provider.name);

  const keyOf = (query: string) => sha256(canonicalJson({ names, query, limit }));

  const remember = (key: string, provider: SearchProviderName, sources: SearchSource[]) => {
    if (cacheTtlMs <= 0) return;
    memory.delete(key);
    memory.set(key, { at: now(), provider, sources });
    if (memory.size > MEMORY_ENTRIES) memory.delete(memory.keys().next().value as string);
  };

  async function lookup(key: string): Promise<SearchOutcome | undefined> {
    if (cacheTtlMs <= 0) return undefined;
    const hit = memory.get(key);
    if (hit && now() - hit.at < cacheTtlMs)
      return { ok: true, sources: hit.sources, provider: hit.provider, cached: true };
    if (!cache) return undefined;
    try {
      const stored = await cache.get(key);
      if (stored && now() - stored.createdAt.getTime() < cacheTtlMs) {
        const provider = stored.provider as SearchProviderName;
        remember(key, provider, stored.results);
        return { ok: true, sources: stored.results, provider, cached: true };
      }
    } catch (error) {
      logger.warn({ err: error }, 'search cache read failed');
    }
    return undefined;
  }

  async function fetchFresh(
    key: string,
    query: string,
    signal: AbortSignal,
  ): Promise<SearchOutcome> {
    const reasons: string[] = [];
    for (const provider of providers) {
      const timeout = AbortSignal.timeout(timeoutMs);
      try {
        const sources = await provider.search({
          query,
          limit,
          signal: AbortSignal.any([signal, timeout]),
        });
        remember(key, provider.name, sources);
        if (cache && cacheTtlMs > 0)
          await cache.put(key, provider.name, sources).catch((error: unknown) => {
            logger.warn({ err: error }, 'search cache write failed');
          });
        return { ok: true, sources, provider: provider.name, cached: false };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const message =
          error instanceof SearchFailure ? error.message : `${provider.name} search failed`;
        reasons.push(message);
        logger.info({ provider: provider.name, reason: message }, 'web search failed');
      }
    }
    return { ok: false, reason: reasons.join('; ') || 'web search failed' };
  }

  return {
    /** Whether any provider is configured. */
    get configured(): boolean {
      return providers.length > 0;
    },
    providerNames: names,

    async search(rawQuery: string, signal: AbortSignal): Promise<SearchOutcome> {
      const query = rawQuery.replace(/\s+/g, ' ').trim().slice(0, MAX_QUERY);
      if (providers.length === 0)
        return { ok: false, reason: 'no web search provider is configured' };
      if (query === '') return { ok: false, reason: 'the search query is empty' };
      const key = keyOf(query);
      const cached = await lookup(key);
      if (cached) return cached;
      // Cells of one run often ask the same query at once: one request serves them all.
      let pending = inFlight.get(key);
      if (!pending) {
        pending = fetchFresh(key, query, signal).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      try {
        return await pending;
      } catch (error) {
        // The shared request was cancelled by another cell: ask again for this one.
        if (signal.aborted) throw error;
        return fetchFresh(key, query, signal);
      }
    },
  };
}

export type SearchService = ReturnType<typeof createSearchService>;
