import {
  asArray,
  cleanSources,
  fetchJson,
  SearchFailure,
  type SearchProvider,
  type SearchRequest,
} from './search-provider.ts';

/** Brave Search API: GET /res/v1/web/search?q=&count= with X-Subscription-Token; `web.results[]`. */
export function createBraveSearch(options: {
  apiKey: string;
  baseUrl?: string;
  fetch?: typeof fetch;
}): SearchProvider {
  const baseUrl = (options.baseUrl ?? 'https://api.search.brave.com').replace(/\/+$/, '');
  return {
    name: 'brave',
    async search(request: SearchRequest) {
      const params = new URLSearchParams({
        q: request.query,
        count: String(Math.min(20, request.limit)),
      });
      const body = (await fetchJson(
        'brave',
        `${baseUrl}/res/v1/web/search?${params}`,
        {
          headers: { accept: 'application/json', 'x-subscription-token': options.apiKey },
          signal: request.signal,
        },
        options.fetch,
      )) as { web?: { results?: unknown } };
      if (!body || typeof body !== 'object')
        throw new SearchFailure('brave', 'brave search answered without results');
      // No `web` section: Brave found nothing for the query.
      return cleanSources(
        asArray(body.web?.results).map((item) => ({
          url: item.url,
          title: item.title,
          snippet: item.description,
        })),
        request.limit,
      );
    },
  };
}
