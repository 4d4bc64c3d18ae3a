import {
  asArray,
  cleanSources,
  fetchJson,
  SearchFailure,
  type SearchProvider,
  type SearchRequest,
} from './search-provider.ts';

/** Serper (https://serper.dev/): POST /search with X-API-KEY; results in `organic[]`. */
export function createSerperSearch(options: {
  apiKey: string;
  baseUrl?: string;
  fetch?: typeof fetch;
}): SearchProvider {
  const baseUrl = (options.baseUrl ?? 'https://google.serper.dev').replace(/\/+$/, '');
  return {
    name: 'serper',
    async search(request: SearchRequest) {
      const body = (await fetchJson(
        'serper',
        `${baseUrl}/search`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': options.apiKey },
          body: JSON.stringify({ q: request.query, num: request.limit }),
          signal: request.signal,
        },
        options.fetch,
      )) as { organic?: unknown };
      if (!body || typeof body !== 'object' || !Array.isArray(body.organic))
        throw new SearchFailure('serper', 'serper search answered without results');
      return cleanSources(
        asArray(body.organic).map((item) => ({
          url: item.link,
          title: item.title,
          snippet: item.snippet,
        })),
        request.limit,
      );
    },
  };
}
