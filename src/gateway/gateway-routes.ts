import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isOverflowConnection } from '../platform/http/connection-limits.ts';
import { toAppError } from '../platform/http/error-envelope.ts';
import { routePlugin } from '../platform/http/route-plugin.ts';
import { presentAnthropicModels, presentOpenAiModels } from './gateway-presenter.ts';
import { anthropicProtocol, type GatewayProtocol, openAiProtocol } from './gateway-protocol.ts';
import { gatewayKeyCreatedView, gatewayKeyListView, gatewayKeyView } from './gateway-schema.ts';
import type { GatewayService } from './gateway-service.ts';
import {
  abortOnClose,
  logClientGone,
  requestIdHeaders,
  serveCall,
  wireStatus,
} from './gateway-stream.ts';

/** Bodies up to this size (images travel inline as data URLs); larger ones answer 413. */
export const GATEWAY_BODY_LIMIT = 20 * 1024 * 1024;

function protocolOf(request: FastifyRequest): GatewayProtocol {
  return request.url.startsWith('/v1/messages') ||
    (request.url.startsWith('/v1/models') && request.headers['anthropic-version'] !== undefined)
    ? anthropicProtocol
    : openAiProtocol;
}

function bearerOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    if (match) return match[1];
  }
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey : undefined;
}

/**
 * The outside-facing routes, in the providers' wire formats: `POST /v1/chat/completions`
 * (OpenAI), `POST /v1/messages` (Anthropic), `GET /v1/models` (either, by `anthropic-version`).
 * A gateway key is their only credential, so they are public to the session/API-key plugin
 * and authenticate here; errors keep the caller's wire format, with our request id.
 */
export const gatewayApiRoutes: FastifyPluginAsyncZod<{ gateway: GatewayService }> = async (
  app,
  options,
) => {
  const { gateway } = options;

  app.setErrorHandler(async (error, request, reply) => {
    const appError = toAppError(error);
    const status = wireStatus(appError);
    if (status >= 500) request.log.error({ err: error }, appError.message);
    else request.log.info({ code: appError.code, err: error }, 'gateway request refused');
    if (appError.headers) reply.headers(appError.headers);
    // An overflow connection (past the per-address bound) stays open only for valid keys.
    if (
      status === 413 ||
      request.raw.complete === false ||
      (status === 401 && isOverflowConnection(request.raw.socket))
    )
      reply.header('connection', 'close');
    reply.headers(requestIdHeaders(request.id));
    return reply.status(status).send(protocolOf(request).errorBody(appError, status, request.id));
  });

  // A gateway key is the credential; a connection past the per-address bound may carry
  // these routes, and the per-address rate limit counts only calls with keys not known live
  // here: a known key is bounded by its own limits (docs/gateway.md, "Many calls from one host").
  const config = {
    public: true,
    connectionOverflow: true,
    rateLimitExempt: (request: FastifyRequest) => gateway.isKnownKey(bearerOf(request)),
  };
  const tags = ['gateway'];

  app.get(
    '/v1/models',
    {
      config,
      schema: {
        tags,
        summary:
          'Models the gateway key may use (OpenAI list; Anthropic list with anthropic-version)',
        description:
          'Authenticated by a gateway key (Bearer or x-api-key), not a session (docs/gateway.md).',
      },
    },
    async (request, reply) => {
      const key = await gateway.authenticate(bearerOf(request));
      reply.headers(requestIdHeaders(request.id));
      return protocolOf(request) === anthropicProtocol
        ? presentAnthropicModels(key)
        : presentOpenAiModels(key);
    },
  );

  /** A call route: authenticate, parse the wire body, serve; a hang-up is no error. */
  const callRoute = (url: string, protocol: GatewayProtocol, summary: string, about: string) =>
    app.post(
      url,
      {
        config,
        bodyLimit: GATEWAY_BODY_LIMIT,
        schema: {
          tags,
          summary,
          description: `${about} Authenticated by a gateway key; 429 in the same format past the key's requests or tokens per minute or its calls in flight on this server (docs/gateway.md).`,
          body: z.unknown(),
        },
      },
      async (request, reply) => {
        const key = await gateway.authenticate(bearerOf(request));
        const call = protocol.parse(request.body);
        const closed = abortOnClose(reply);
        try {
          await serveCall(request, reply, protocol, call, gateway.open(key, call, closed), closed);
        } catch (error) {
          if (!closed.aborted) throw error;
          logClientGone(request);
          reply.hijack();
        }
      },
    );

  callRoute(
    '/v1/chat/completions',
    openAiProtocol,
    'OpenAI Chat Completions through the router (streamed or not; tools, JSON, images)',
    'The OpenAI wire format, so the official client works with only baseURL and apiKey changed.',
  );
  callRoute(
    '/v1/messages',
    anthropicProtocol,
    'Anthropic Messages through the router (streamed or not; tools, images)',
    'The Anthropic wire format, for the official @anthropic-ai/sdk client.',
  );
};

const projectParams = z.object({ projectId: z.uuid() });
const keyParams = projectParams.extend({ keyId: z.uuid() });

/** Managing a project's gateway keys (owners; editors list them). */
export const gatewayKeyRoutes = routePlugin<{ gateway: GatewayService }>(
  ['gateway'],
  (route, { gateway }) => {
    const base = '/api/projects/:projectId/gateway/keys';

    route.get(
      base,
      {
        summary: "The project's gateway keys (editor); never their secrets",
        params: projectParams,
        response: gatewayKeyListView,
      },
      async (request) => ({
        items: await gateway.listKeys(request.actor, request.params.projectId),
      }),
    );

    route.post(
      base,
      {
        summary: 'Create a gateway key (owner): allowed models and aliases, limits, budgets, cache',
        description:
          'The key is returned once. Outside apps send it as a Bearer token (or x-api-key) to /v1/chat/completions, /v1/messages and /v1/models (docs/gateway.md).',
        params: projectParams,
        body: z.unknown(),
        response: gatewayKeyCreatedView,
        status: 201,
      },
      async (request) => gateway.createKey(request.actor, request.params.projectId, request.body),
    );

    route.patch(
      `${base}/:keyId`,
      {
        summary: "Change a gateway key's models, limits, budgets or cache switch (owner)",
        params: keyParams,
        body: z.unknown(),
        response: gatewayKeyView,
      },
      async (request) =>
        gateway.updateKey(
          request.actor,
          request.params.projectId,
          request.params.keyId,
          request.body,
        ),
    );

    route.delete(
      `${base}/:keyId`,
      {
        summary: 'Revoke a gateway key (owner); calls with it are refused from then on',
        params: keyParams,
        status: 204,
      },
      async (request) => {
        await gateway.revokeKey(request.actor, request.params.projectId, request.params.keyId);
      },
    );
  },
);
