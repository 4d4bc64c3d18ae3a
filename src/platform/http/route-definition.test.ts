import { Readable } from 'node:stream';
import Fastify, { type FastifySchema } from 'fastify';
import {
  type FastifyPluginAsyncZod,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { routeTable } from './route-definition.ts';

const item = z.object({ id: z.uuid(), name: z.string() });
const itemParams = z.object({ id: z.uuid() });
const id = '01890000-0000-7000-8000-000000000001';
type RouteSchema = FastifySchema;

/** Every kind of route the helper writes, over a real Fastify with the zod compilers. */
const routes: FastifyPluginAsyncZod = async (app) => {
  const route = routeTable(app, ['items']);
  route.get(
    '/items/:id',
    { summary: 'One item', params: itemParams, response: item },
    async (request) => ({ id: request.params.id, name: 'first' }),
  );
  route.post(
    '/items',
    { summary: 'Create', body: z.object({ name: z.string().max(5) }), response: item, status: 201 },
    async (request) => ({ id, name: request.body.name }),
  );
  route.get(
    '/items',
    {
      summary: 'Search',
      tags: ['search'],
      query: z.object({ q: z.string().min(1) }),
      response: z.object({ q: z.string() }),
    },
    async (request) => ({ q: request.query.q }),
  );
  route.delete(
    '/items/:id',
    { summary: 'Remove', params: itemParams, response: z.null(), status: 204 },
    async (_request, reply) => {
      reply.header('x-removed', '1');
    },
  );
  route.get('/items/:id/raw', { summary: 'Sends itself', params: itemParams }, async (_, reply) =>
    reply.status(203).send('raw'),
  );
  route.get('/items/:id/stream', { summary: 'Streams', params: itemParams }, async (_, reply) =>
    reply.header('content-type', 'text/plain').send(Readable.from(['first ', 'second'])),
  );
  route.post(
    '/items/small',
    { summary: 'Small bodies only', body: z.object({ name: z.string() }), bodyLimit: 32 },
    async (request) => ({ name: request.body.name }),
  );
  route.get(
    '/items/:id/bad',
    { summary: 'Answers off its schema', params: itemParams, response: item },
    // A handler that lies to the compiler: the serializer still refuses the answer.
    async () => ({ id: 'not-a-uuid', name: 'x' }) as unknown as z.input<typeof item>,
  );
};

describe('routeTable', () => {
  const app = Fastify().withTypeProvider<ZodTypeProvider>();
  const registered: { method: string | string[]; url: string; schema?: RouteSchema }[] = [];
  beforeAll(async () => {
    app.addHook('onRoute', (options) => {
      registered.push({ method: options.method, url: options.url, schema: options.schema });
    });
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(routes);
    await app.ready();
  });
  afterAll(() => app.close());

  it('answers 200 with the handler body, validated params and query', async () => {
    const one = await app.inject({ method: 'GET', url: `/items/${id}` });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual({ id, name: 'first' });
    const search = await app.inject({ method: 'GET', url: '/items?q=abc' });
    expect(search.json()).toEqual({ q: 'abc' });
  });

  it('sends the spec status (201) and an empty 204, keeping headers the handler set', async () => {
    const created = await app.inject({ method: 'POST', url: '/items', payload: { name: 'pen' } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toEqual({ id, name: 'pen' });
    const removed = await app.inject({ method: 'DELETE', url: `/items/${id}` });
    expect(removed.statusCode).toBe(204);
    expect(removed.body).toBe('');
    expect(removed.headers['x-removed']).toBe('1');
  });

  it('leaves an answer the handler sent itself alone', async () => {
    const raw = await app.inject({ method: 'GET', url: `/items/${id}/raw` });
    expect(raw.statusCode).toBe(203);
    expect(raw.body).toBe('raw');
    const streamed = await app.inject({ method: 'GET', url: `/items/${id}/stream` });
    expect(streamed.statusCode).toBe(200);
    expect(streamed.headers['content-type']).toBe('text/plain');
    expect(streamed.body).toBe('first second');
  });

  it('holds a route to its own body limit (413 past it)', async () => {
    const small = await app.inject({ method: 'POST', url: '/items/small', payload: { name: 'a' } });
    expect(small.json()).toEqual({ name: 'a' });
    const large = await app.inject({
      method: 'POST',
      url: '/items/small',
      payload: { name: 'a'.repeat(64) },
    });
    expect(large.statusCode).toBe(413);
  });

  it('refuses bad params, query and body with 400 before the handler runs', async () => {
    for (const request of [
      { method: 'GET' as const, url: '/items/not-a-uuid' },
      { method: 'GET' as const, url: '/items' },
      { method: 'POST' as const, url: '/items', payload: { name: 'far too long' } },
    ]) {
      expect((await app.inject(request)).statusCode).toBe(400);
    }
  });

  it('never sends an answer that breaks its response schema', async () => {
    const bad = await app.inject({ method: 'GET', url: `/items/${id}/bad` });
    expect(bad.statusCode).toBe(500);
    expect(bad.body).not.toContain('not-a-uuid');
  });

  it('writes the OpenAPI parts: tags (per table or per route), summary, status', () => {
    const schemaOf = (method: string, url: string) =>
      registered.find((route) => route.method === method && route.url === url)?.schema;
    expect(schemaOf('POST', '/items')).toMatchObject({ tags: ['items'], summary: 'Create' });
    expect(Object.keys(schemaOf('POST', '/items')?.response ?? {})).toEqual(['201']);
    expect(schemaOf('GET', '/items')?.tags).toEqual(['search']);
    expect(schemaOf('GET', '/items')?.querystring).toBeDefined();
    expect(Object.keys(schemaOf('DELETE', '/items/:id')?.response ?? {})).toEqual(['204']);
    expect(schemaOf('GET', '/items/:id/raw')?.response).toBeUndefined();
  });
});
