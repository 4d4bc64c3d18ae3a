import {
  createSearchAdapter,
  type KeyedSearchOptions,
  listAt,
  type SearchProvider,
} from './search-provider.ts';

/** Tavily: POST /search { query, max_results } with a Bearer key; `results[]` with `content`. */
export function createTavilySearch(options: KeyedSearchOptions): SearchProvider {
  return createSearchAdapter(
    {
      name: 'tavily',
      request: (query, limit) => ({
        path: '/search',
        init: {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${options.apiKey}`,
          },
          body: JSON.stringify({ query, max_results: limit }),
        },
      }),
      results: listAt('results'),
      fields: { url: 'url', title: 'title', snippet: 'content' },
    },
    { baseUrl: options.baseUrl ?? 'https://api.tavily.com', fetch: options.fetch },
  );
}
