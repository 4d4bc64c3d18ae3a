/**
 * The web-search port of AI columns (grounding). Adapters beside it speak Serper, Brave,
 * Tavily and SearXNG; the search service picks the configured ones, caches results and never
 * lets a failed search fail a cell (the cell is generated without sources and flagged).
 */
export const SEARCH_PROVIDERS = ['serper', 'brave', 'tavily', 'searxng'] as const;
export type SearchProviderName = (typeof SEARCH_PROVIDERS)[number];

/** One source as stored per cell and shown to users: text only, snippet ≤ 300 characters. */
export interface SearchSource {
  url: string;
  title: string;
  snippet: string;
}

export interface SearchRequest {
  query: string;
  limit: number;
  signal: AbortSignal;
}

export interface SearchProvider {
  readonly name: SearchProviderName;
  /** Throws SearchFailure (HTTP error, bad body, network, timeout). */
  search(request: SearchRequest): Promise<SearchSource[]>;
}

export class SearchFailure extends Error {
  readonly provider: SearchProviderName;
  readonly status: number | undefined;

  constructor(
    provider: SearchProviderName,
    message: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SearchFailure';
    this.provider = provider;
    this.status = options.status;
  }
}

export const MAX_SNIPPET = 300;
export const MAX_TITLE = 300;
const MAX_URL = 2_000;
// C0/C1 controls and line/paragraph separators become spaces; markup is kept as inert text.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

function cleanText(value: unknown, max: number): string {
  if (typeof value !== 'string') return '';
  const text = value.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Only absolute http(s) URLs survive (no javascript:, data:, relative links). */
export function cleanUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_URL) return undefined;
  try {
    const url = new URL(value.trim());
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return undefined;
  }
}

/** Raw provider results → at most `limit` clean sources, duplicates by URL removed. */
export function cleanSources(
  raw: readonly { url?: unknown; title?: unknown; snippet?: unknown }[],
  limit: number,
): SearchSource[] {
  const seen = new Set<string>();
  const sources: SearchSource[] = [];
  for (const item of raw) {
    if (sources.length >= limit) break;
    const url = cleanUrl(item.url);
    if (!url || seen.has(url)) continue;
    seen.add(url);
    sources.push({
      url,
      title: cleanText(item.title, MAX_TITLE) || url,
      snippet: cleanText(item.snippet, MAX_SNIPPET),
    });
  }
  return sources;
}

/** fetch → JSON body, mapping every failure to SearchFailure (the key is never in a message). */
export async function fetchJson(
  provider: SearchProviderName,
  url: string,
  init: RequestInit & { signal: AbortSignal },
  fetchImpl: typeof fetch = fetch,
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetchImpl(url, init);
  } catch (error) {
    const reason = init.signal.aborted ? 'timed out or was cancelled' : 'could not be reached';
    throw new SearchFailure(provider, `${provider} search ${reason}`, { cause: error });
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new SearchFailure(provider, `${provider} search answered HTTP ${response.status}`, {
      status: response.status,
    });
  }
  try {
    return (await response.json()) as unknown;
  } catch (error) {
    throw new SearchFailure(provider, `${provider} search sent a body that is not JSON`, {
      cause: error,
    });
  }
}

export const asArray = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value) ? value.filter((item) => item && typeof item === 'object') : [];

/** How one search API is asked and read: its request, where its results are, their fields. */
/** What a keyed search adapter is made with (the default base URL is the provider's own). */
export interface KeyedSearchOptions {
  apiKey: string;
  baseUrl?: string;
  fetch?: typeof fetch;
}

export interface SearchApi {
  name: SearchProviderName;
  /** The path (and query string) below the base URL, and the method, headers and body. */
  request(query: string, limit: number): { path: string; init?: Omit<RequestInit, 'signal'> };
  /** The body's results; undefined when the body is not an answer (a SearchFailure). */
  results(body: Record<string, unknown>): unknown[] | undefined;
  /** Which field of a result holds its URL, title and snippet. */
  fields: { url: string; title: string; snippet: string };
}

/** A search provider over one API: fetch, check the body, clean at most `limit` sources. */
export function createSearchAdapter(
  api: SearchApi,
  options: { baseUrl: string; fetch?: typeof fetch | undefined },
): SearchProvider {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  return {
    name: api.name,
    async search(request: SearchRequest) {
      const { path, init } = api.request(request.query, request.limit);
      const body = await fetchJson(
        api.name,
        `${baseUrl}${path}`,
        { ...init, signal: request.signal },
        options.fetch,
      );
      const results =
        body && typeof body === 'object' ? api.results(body as Record<string, unknown>) : undefined;
      if (!results)
        throw new SearchFailure(api.name, `${api.name} search answered without results`);
      const { fields } = api;
      return cleanSources(
        asArray(results).map((item) => ({
          url: item[fields.url],
          title: item[fields.title],
          snippet: item[fields.snippet],
        })),
        request.limit,
      );
    },
  };
}

/** The results at `key` of a body, when they are a list. */
export const listAt =
  (key: string) =>
  (body: Record<string, unknown>): unknown[] | undefined =>
    Array.isArray(body[key]) ? (body[key] as unknown[]) : undefined;
