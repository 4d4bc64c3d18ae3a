import {
  asArray,
  cleanSources,
  fetchJson,
  SearchFailure,
  type SearchProvider,
  type SearchRequest,
} from './search-provider.ts';

/** SearXNG: GET /search?q=&format=json (the instance must enable the json format); `results[]`. */
export function createSearxngSearch(options: {
  baseUrl: string;
  fetch?: typeof fetch;
}): SearchProvider {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  return {
    name: 'searxng',
    async search(request: SearchRequest) {
      const params = new URLSearchParams({ q: request.query, format: 'json' });
      const body = (await fetchJson(
        'searxng',
        `${baseUrl}/search?${params}`,
        { headers: { accept: 'application/json' }, signal: request.signal },
        options.fetch,
      )) as { results?: unknown };
      if (!body || typeof body !== 'object' || !Array.isArray(body.results))
        throw new SearchFailure('searxng', 'searxng search answered without results');
      return cleanSources(
        asArray(body.results).map((item) => ({
          url: item.url,
          title: item.title,
          snippet: item.content,
        })),
        request.limit,
      );
    },
  };
}
