import type {
  FastifyBaseLogger,
  FastifyContextConfig,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';

/** The instance a `FastifyPluginAsyncZod` plugin receives. */
type RouteHost = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

type Output<T> = T extends z.ZodType ? z.output<T> : unknown;

/**
 * One route's OpenAPI and validation parts. `response` is the schema of the success answer,
 * sent with `status` (200 unless given); a 204 route has none and its handler returns nothing.
 */
export interface RouteSpec<P, Q, B, R> {
  summary: string;
  /** The OpenAPI tags, when not the table's. */
  tags?: string[];
  description?: string;
  /** Route config read by the platform's hooks, e.g. `{ public: true, rateLimit }`. */
  config?: FastifyContextConfig;
  /** This route's request body limit in bytes, when not the server's. */
  bodyLimit?: number;
  params?: P;
  query?: Q;
  body?: B;
  response?: R;
  status?: 200 | 201 | 202 | 204;
}

/** A handler sees the validated parts and returns the answer's body. */
export type RouteHandler<P, Q, B, R> = (
  request: FastifyRequest<{ Params: Output<P>; Querystring: Output<Q>; Body: Output<B> }>,
  reply: FastifyReply,
) => Promise<Answer<R>>;

/**
 * The body a handler returns, checked against the response schema. Without one it is not checked;
 * a 204 (documented as `z.null()` or not at all) drops it.
 */
type Answer<R> = R extends z.ZodNull ? unknown : R extends z.ZodType ? z.input<R> : unknown;

type Define = <
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends z.ZodType | undefined = undefined,
>(
  url: string,
  spec: RouteSpec<P, Q, B, R>,
  handler: RouteHandler<P, Q, B, R>,
) => void;

export interface RouteTable {
  get: Define;
  post: Define;
  put: Define;
  patch: Define;
  delete: Define;
}

/**
 * Registers routes under one OpenAPI tag list, from a spec and a handler each: the schema, the
 * success status and the empty 204 answer are written here once instead of in every route.
 */
export function routeTable(app: RouteHost, tags: string[]): RouteTable {
  const define =
    (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'): Define =>
    (url, spec, handler) => {
      const status = spec.status ?? 200;
      app.route({
        method,
        url,
        ...(spec.config ? { config: spec.config } : {}),
        ...(spec.bodyLimit === undefined ? {} : { bodyLimit: spec.bodyLimit }),
        schema: {
          tags: spec.tags ?? tags,
          summary: spec.summary,
          ...(spec.description ? { description: spec.description } : {}),
          ...(spec.params ? { params: spec.params } : {}),
          ...(spec.query ? { querystring: spec.query } : {}),
          ...(spec.body ? { body: spec.body } : {}),
          ...(spec.response ? { response: { [status]: spec.response } } : {}),
        },
        handler: async (request, reply) => {
          const body = await handler(request as never, reply);
          // A handler that answered itself: SSE hijacks the reply; a stream is sent and returned.
          if (reply.sent || body === reply) return reply;
          if (status === 204) return reply.status(204).send(null);
          return reply.status(status).send(body);
        },
      });
    };
  return {
    get: define('GET'),
    post: define('POST'),
    put: define('PUT'),
    patch: define('PATCH'),
    delete: define('DELETE'),
  };
}
