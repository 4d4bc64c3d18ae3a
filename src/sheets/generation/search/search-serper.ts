import {
  createSearchAdapter,
  type KeyedSearchOptions,
  listAt,
  type SearchProvider,
} from './search-provider.ts';

/** Serper (https://serper.dev/): POST /search with X-API-KEY; results in `organic[]`. */
export function createSerperSearch(options: KeyedSearchOptions): SearchProvider {
  return createSearchAdapter(
    {
      name: 'serper',
      request: (query, limit) => ({
        path: '/search',
        init: {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': options.apiKey },
          body: JSON.stringify({ q: query, num: limit }),
        },
      }),
      results: listAt('organic'),
      fields: { url: 'link', title: 'title', snippet: 'snippet' },
    },
    { baseUrl: options.baseUrl ?? 'https://google.serper.dev', fetch: options.fetch },
  );
}
