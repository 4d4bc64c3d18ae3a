import {
  createSearchAdapter,
  type KeyedSearchOptions,
  type SearchProvider,
} from './search-provider.ts';

/** Brave Search API: GET /res/v1/web/search?q=&count= with X-Subscription-Token; `web.results[]`. */
export function createBraveSearch(options: KeyedSearchOptions): SearchProvider {
  return createSearchAdapter(
    {
      name: 'brave',
      request: (query, limit) => ({
        path: `/res/v1/web/search?${new URLSearchParams({ q: query, count: String(Math.min(20, limit)) })}`,
        init: { headers: { accept: 'application/json', 'x-subscription-token': options.apiKey } },
      }),
      // No `web` section: Brave found nothing for the query.
      results: (body) => {
        const results = (body.web as { results?: unknown } | undefined)?.results;
        return Array.isArray(results) ? results : [];
      },
      fields: { url: 'url', title: 'title', snippet: 'description' },
    },
    { baseUrl: options.baseUrl ?? 'https://api.search.brave.com', fetch: options.fetch },
  );
}
