import {
  asArray,
  cleanSources,
  fetchJson,
  SearchFailure,
  type SearchProvider,
  type SearchRequest,
} from './search-provider.ts';

/** Tavily: POST /search { query, max_results } with a Bearer key; `results[]` with `content`. */
export function createTavilySearch(options: {
  apiKey: string;
  baseUrl?: string;
  fetch?: typeof fetch;
}): SearchProvider {
  const baseUrl = (options.baseUrl ?? 'https://api.tavily.com').replace(/\/+$/, '');
  return {
    name: 'tavily',
    async search(request: SearchRequest) {
      const body = (await fetchJson(
        'tavily',
        `${baseUrl}/search`,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${options.apiKey}`,
          },
          body: JSON.stringify({ query: request.query, max_results: request.limit }),
          signal: request.signal,
        },
        options.fetch,
      )) as { results?: unknown };
      if (!body || typeof body !== 'object' || !Array.isArray(body.results))
        throw new SearchFailure('tavily', 'tavily search answered without results');
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
