import {
  createSearchAdapter,
  type KeyedSearchOptions,
  listAt,
  type SearchApi,
  type SearchProvider,
} from './search-provider.ts';

/** A search API that takes a key: how it is asked with the key, and where its results are. */
interface KeyedSearchApi extends Omit<SearchApi, 'name' | 'request'> {
  /** The provider's own base URL (a test or a proxy passes another). */
  baseUrl: string;
  request(apiKey: string, query: string, limit: number): ReturnType<SearchApi['request']>;
}

/** A JSON body POSTed to `path`, the key in a header of the provider's choosing. */
const postJson = (path: string, keyHeader: Record<string, string>, body: unknown) => ({
  path,
  init: {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...keyHeader },
    body: JSON.stringify(body),
  },
});

/** The keyed search APIs, in the order the search service prefers them. */
const KEYED_SEARCH_APIS = {
  /** Serper (https://serper.dev/): POST /search with X-API-KEY; results in `organic[]`. */
  serper: {
    baseUrl: 'https://google.serper.dev',
    request: (apiKey, query, limit) =>
      postJson('/search', { 'x-api-key': apiKey }, { q: query, num: limit }),
    results: listAt('organic'),
    fields: { url: 'link', title: 'title', snippet: 'snippet' },
  },
  /** Brave Search API: GET /res/v1/web/search?q=&count= with X-Subscription-Token; `web.results[]`. */
  brave: {
    baseUrl: 'https://api.search.brave.com',
    request: (apiKey, query, limit) => ({
      path: `/res/v1/web/search?${new URLSearchParams({ q: query, count: String(Math.min(20, limit)) })}`,
      init: { headers: { accept: 'application/json', 'x-subscription-token': apiKey } },
    }),
    // No `web` section: Brave found nothing for the query.
    results: (body) => {
      const results = (body.web as { results?: unknown } | undefined)?.results;
      return Array.isArray(results) ? results : [];
    },
    fields: { url: 'url', title: 'title', snippet: 'description' },
  },
  /** Tavily: POST /search { query, max_results } with a Bearer key; `results[]` with `content`. */
  tavily: {
    baseUrl: 'https://api.tavily.com',
    request: (apiKey, query, limit) =>
      postJson('/search', { authorization: `Bearer ${apiKey}` }, { query, max_results: limit }),
    results: listAt('results'),
    fields: { url: 'url', title: 'title', snippet: 'content' },
  },
} satisfies Record<string, KeyedSearchApi>;

export type KeyedSearchName = keyof typeof KEYED_SEARCH_APIS;
export const KEYED_SEARCH_NAMES = Object.keys(KEYED_SEARCH_APIS) as KeyedSearchName[];

/** A search provider over one keyed API (the default base URL is the provider's own). */
export function createKeyedSearch(
  name: KeyedSearchName,
  options: KeyedSearchOptions,
): SearchProvider {
  const { baseUrl, request, ...api }: KeyedSearchApi = KEYED_SEARCH_APIS[name];
  return createSearchAdapter(
    { ...api, name, request: (query, limit) => request(options.apiKey, query, limit) },
    { baseUrl: options.baseUrl ?? baseUrl, fetch: options.fetch },
  );
}

export const createSerperSearch = (options: KeyedSearchOptions) =>
  createKeyedSearch('serper', options);
export const createBraveSearch = (options: KeyedSearchOptions) =>
  createKeyedSearch('brave', options);
export const createTavilySearch = (options: KeyedSearchOptions) =>
  createKeyedSearch('tavily', options);
