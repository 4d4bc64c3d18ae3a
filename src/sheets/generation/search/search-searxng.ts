import { createSearchAdapter, listAt, type SearchProvider } from './search-provider.ts';

/** SearXNG: GET /search?q=&format=json (the instance must enable the json format); `results[]`. */
export function createSearxngSearch(options: {
  baseUrl: string;
  fetch?: typeof fetch;
}): SearchProvider {
  return createSearchAdapter(
    {
      name: 'searxng',
      request: (query) => ({
        path: `/search?${new URLSearchParams({ q: query, format: 'json' })}`,
        init: { headers: { accept: 'application/json' } },
      }),
      results: listAt('results'),
      fields: { url: 'url', title: 'title', snippet: 'content' },
    },
    { baseUrl: options.baseUrl, fetch: options.fetch },
  );
}
