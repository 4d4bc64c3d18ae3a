import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../platform/logger.ts';
import { createBraveSearch, createSerperSearch, createTavilySearch } from './search-keyed.ts';
import { cleanSources, MAX_SNIPPET, type SearchProvider } from './search-provider.ts';
import { createSearxngSearch } from './search-searxng.ts';
import { createSearchService, type SearchCache } from './search-service.ts';

/** A local stand-in for the four search APIs, answering their real paths and body shapes. */
interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
}
let server: Server;
let base: string;
const seen: Seen[] = [];
let mode: 'ok' | 'error' | 'garbage' | 'slow' = 'ok';

const long = 'x'.repeat(1_000);

function answer(request: IncomingMessage, response: ServerResponse, body: unknown) {
  const url = new URL(request.url ?? '/', 'http://localhost');
  seen.push({
    method: request.method ?? '',
    path: url.pathname,
    query: url.searchParams,
    headers: request.headers,
    body,
  });
  const send = (status: number, payload: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
  };
  if (mode === 'error') return send(503, { error: 'down' });
  if (mode === 'garbage') return send(200, '<html>not json');
  if (mode === 'slow') return void setTimeout(() => send(200, { results: [] }), 2_000);
  const q =
    url.searchParams.get('q') ??
    (body as { q?: string; query?: string })?.q ??
    (body as { query?: string })?.query;
  if (
    url.pathname === '/search' &&
    request.method === 'POST' &&
    request.headers['x-api-key'] === 'serper-key'
  )
    return send(200, {
      organic: [
        { title: `Serper ${q}`, link: 'https://example.org/a', snippet: long },
        { title: 'Bad', link: 'javascript:alert(1)', snippet: 'dropped' },
      ],
    });
  if (
    url.pathname === '/search' &&
    request.method === 'POST' &&
    request.headers.authorization === 'Bearer tavily-key'
  )
    return send(200, {
      results: [
        { title: `Tavily ${q}`, url: 'https://example.org/t', content: 'tavily\u0000snippet' },
      ],
    });
  if (
    url.pathname === '/res/v1/web/search' &&
    request.headers['x-subscription-token'] === 'brave-key'
  )
    return send(200, {
      web: {
        results: [
          {
            title: `Brave ${q}`,
            url: 'https://example.org/b',
            description: 'brave <b>snippet</b>',
          },
        ],
      },
    });
  if (url.pathname === '/search' && url.searchParams.get('format') === 'json')
    return send(200, {
      results: [{ title: `SearXNG ${q}`, url: 'https://example.org/s', content: 'searx snippet' }],
    });
  return send(401, { error: 'unauthorized' });
}

beforeAll(async () => {
  server = createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk) => {
      raw += chunk;
    });
    request.on('end', () => answer(request, response, raw ? JSON.parse(raw) : undefined));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen.length = 0;
  mode = 'ok';
});

// Requests to the local server are not raced against a clock (a busy machine is slow, not
// broken); the one timeout under test is the service's own (`timeoutMs` below, 100 ms against a
// server that answers after 2 s).
const signal = () => new AbortController().signal;

describe('search adapters against a local server', () => {
  it.each([
    {
      title:
        'Serper: POST /search with X-API-KEY; organic results, unsafe links dropped, snippets cut to 300',
      provider: () => createSerperSearch({ apiKey: 'serper-key', baseUrl: base }),
      query: 'rivers of Peru',
      limit: 5,
      body: { q: 'rivers of Peru', num: 5 },
      sources: [
        {
          url: 'https://example.org/a',
          title: 'Serper rivers of Peru',
          snippet: `${'x'.repeat(MAX_SNIPPET - 1)}…`,
        },
      ],
    },
    {
      title: 'Tavily: POST /search with a Bearer key; control characters removed',
      provider: () => createTavilySearch({ apiKey: 'tavily-key', baseUrl: base }),
      query: 'deltas',
      limit: 2,
      body: { query: 'deltas', max_results: 2 },
      sources: [
        { url: 'https://example.org/t', title: 'Tavily deltas', snippet: 'tavily snippet' },
      ],
    },
  ])('$title', async ({ provider, query, limit, body, sources }) => {
    const found = await provider().search({ query, limit, signal: signal() });
    expect(seen[0]).toMatchObject({ method: 'POST', path: '/search', body });
    expect(found).toEqual(sources);
  });

  it('Brave: GET /res/v1/web/search?q=&count= with X-Subscription-Token', async () => {
    const provider = createBraveSearch({ apiKey: 'brave-key', baseUrl: base });
    const sources = await provider.search({ query: 'fjords', limit: 3, signal: signal() });
    expect(seen[0]).toMatchObject({ method: 'GET', path: '/res/v1/web/search' });
    expect(seen[0]!.query.get('q')).toBe('fjords');
    expect(seen[0]!.query.get('count')).toBe('3');
    // Markup stays inert text: it is data, rendered as text by the UI.
    expect(sources).toEqual([
      { url: 'https://example.org/b', title: 'Brave fjords', snippet: 'brave <b>snippet</b>' },
    ]);
  });

  it('SearXNG: GET /search?q=&format=json', async () => {
    const provider = createSearxngSearch({ baseUrl: `${base}/` });
    const sources = await provider.search({ query: 'lagoons', limit: 5, signal: signal() });
    expect(seen[0]!.query.get('format')).toBe('json');
    expect(sources).toEqual([
      { url: 'https://example.org/s', title: 'SearXNG lagoons', snippet: 'searx snippet' },
    ]);
  });

  it.each([
    ['error', /HTTP 503/],
    ['garbage', /not JSON/],
  ] as const)('maps a %s answer to a SearchFailure without the key', async (failure, message) => {
    mode = failure;
    const provider = createSerperSearch({ apiKey: 'serper-key', baseUrl: base });
    const error = await provider
      .search({ query: 'q', limit: 5, signal: signal() })
      .catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('serper-key');
  });

  it('cleans sources: http(s) only, no credentials, one per URL', () => {
    expect(
      cleanSources(
        [
          { url: 'https://user:pw@example.org/x', title: 't', snippet: 's' },
          { url: 'https://user:pw@example.org/x', title: 'again', snippet: 's' },
          { url: 'data:text/html,hi', title: 'no', snippet: '' },
          { url: '/relative', title: 'no', snippet: '' },
        ],
        5,
      ),
    ).toEqual([{ url: 'https://example.org/x', title: 't', snippet: 's' }]);
  });
});

describe('search service', () => {
  const logger = createLogger({ level: 'silent', format: 'json' });
  const memoryCache = (): SearchCache & { puts: number } => {
    const entries = new Map<string, { provider: string; results: never[]; createdAt: Date }>();
    return {
      puts: 0,
      async get(key) {
        return entries.get(key);
      },
      async put(key, provider, results) {
        this.puts++;
        entries.set(key, { provider, results: results as never[], createdAt: new Date() });
      },
    };
  };
  const service = (providers: SearchProvider[], cache?: SearchCache, timeoutMs = 60_000) =>
    createSearchService({ providers, cache, cacheTtlMs: 60_000, timeoutMs, limit: 5, logger });

  it('caches results: the same query asks the provider once', async () => {
    const cache = memoryCache();
    const search = service([createSearxngSearch({ baseUrl: base })], cache);
    const first = await search.search('tide pools', signal());
    const second = await search.search('tide  pools ', signal());
    expect(first).toMatchObject({ ok: true, cached: false, provider: 'searxng' });
    expect(second).toMatchObject({ ok: true, cached: true });
    expect(seen).toHaveLength(1);
    expect(cache.puts).toBe(1);
  });

  it('falls back to the next provider when one fails', async () => {
    const search = service([
      createSerperSearch({ apiKey: 'wrong-key', baseUrl: base }),
      createBraveSearch({ apiKey: 'brave-key', baseUrl: base }),
    ]);
    expect(await search.search('estuaries', signal())).toMatchObject({
      ok: true,
      provider: 'brave',
    });
  });

  it('answers unavailable (never throws) when search is down, slow or unconfigured', async () => {
    mode = 'error';
    expect(
      await service([createSearxngSearch({ baseUrl: base })]).search('a', signal()),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/HTTP 503/),
    });
    mode = 'slow';
    expect(
      await service([createSearxngSearch({ baseUrl: base })], undefined, 100).search('b', signal()),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/timed out/),
    });
    expect(
      await service([createSearxngSearch({ baseUrl: 'http://127.0.0.1:1' })]).search('c', signal()),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/could not be reached/),
    });
    expect(await service([]).search('d', signal())).toEqual({
      ok: false,
      reason: 'no web search provider is configured',
    });
  });
});
