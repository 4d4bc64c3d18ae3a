import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { LlmCallResult, LlmStreamEvent } from '../llm/llm-service.ts';
import { AppError } from '../platform/app-error.ts';
import { toAppError } from '../platform/http/error-envelope.ts';
import {
  AnthropicEventWriter,
  anthropicError,
  anthropicMessage,
  anthropicStreamError,
  fromAnthropic,
} from './gateway-anthropic.ts';
import type { GatewayCallInput } from './gateway-call.ts';
import { fromOpenAi, OpenAiChunkWriter, openAiCompletion, openAiError } from './gateway-openai.ts';
import { presentAnthropicModels, presentOpenAiModels } from './gateway-presenter.ts';
import { gatewayKeyCreatedView, gatewayKeyListView, gatewayKeyView } from './gateway-schema.ts';
import type { GatewayService } from './gateway-service.ts';

/** Bodies up to this size (images travel inline as data URLs); larger ones answer 413. */
export const GATEWAY_BODY_LIMIT = 20 * 1024 * 1024;

type Wire = 'openai' | 'anthropic';

/** The HTTP status a failure gets on the wire: upstream failures after fallbacks are 502. */
export function wireStatus(error: AppError): number {
  if (error.code === 'PROVIDER_ERROR') return error.details?.reason === 'bad-request' ? 400 : 502;
  if (error.code === 'PROVIDER_UNAVAILABLE') return 502;
  return error.status;
}

function wireOf(request: FastifyRequest): Wire {
  return request.url.startsWith('/v1/messages') ||
    (request.url.startsWith('/v1/models') && request.headers['anthropic-version'] !== undefined)
    ? 'anthropic'
    : 'openai';
}

/** Our request id under both names the official clients read (OpenAI's, Anthropic's). */
const requestIdHeaders = (id: string) => ({ 'x-request-id': id, 'request-id': id });

function bearerOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    if (match) return match[1];
  }
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey : undefined;
}

function errorBody(wire: Wire, error: AppError, status: number, requestId: string) {
  return wire === 'openai'
    ? openAiError(error, status, requestId)
    : anthropicError(error, status, requestId);
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
    if (status === 413 || request.raw.complete === false) reply.header('connection', 'close');
    reply.headers(requestIdHeaders(request.id));
    return reply.status(status).send(errorBody(wireOf(request), appError, status, request.id));
  });

  const config = { public: true };
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
      return wireOf(request) === 'anthropic'
        ? presentAnthropicModels(key)
        : presentOpenAiModels(key);
    },
  );

  app.post(
    '/v1/chat/completions',
    {
      config,
      bodyLimit: GATEWAY_BODY_LIMIT,
      schema: {
        tags,
        summary:
          'OpenAI Chat Completions through the router (streamed or not; tools, JSON, images)',
        description:
          'The OpenAI wire format, so the official client works with only baseURL and apiKey changed. Authenticated by a gateway key (docs/gateway.md).',
        body: z.unknown(),
      },
    },
    async (request, reply) => {
      const key = await gateway.authenticate(bearerOf(request));
      const call = fromOpenAi(request.body);
      await serve(request, reply, call, gateway.open(key, call, abortOnClose(reply)), {
        wire: 'openai',
        includeUsage: call.includeUsage,
      });
    },
  );

  app.post(
    '/v1/messages',
    {
      config,
      bodyLimit: GATEWAY_BODY_LIMIT,
      schema: {
        tags,
        summary: 'Anthropic Messages through the router (streamed or not; tools, images)',
        description:
          'The Anthropic wire format, for the official @anthropic-ai/sdk client. Authenticated by a gateway key (docs/gateway.md).',
        body: z.unknown(),
      },
    },
    async (request, reply) => {
      const key = await gateway.authenticate(bearerOf(request));
      const call = fromAnthropic(request.body);
      await serve(request, reply, call, gateway.open(key, call, abortOnClose(reply)), {
        wire: 'anthropic',
        includeUsage: true,
      });
    },
  );
};

/** A signal that aborts when the client goes away before the response has ended. */
function abortOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished)
      controller.abort(new Error('the client closed the connection'));
  });
  return controller.signal;
}

async function serve(
  request: FastifyRequest,
  reply: FastifyReply,
  call: GatewayCallInput,
  events: AsyncGenerator<LlmStreamEvent, void, undefined>,
  options: { wire: Wire; includeUsage: boolean },
): Promise<void> {
  const startedAt = Date.now();
  if (!call.stream) {
    let result: LlmCallResult | undefined;
    for await (const event of events) if (event.type === 'finish') result = event.result;
    if (!result) throw new AppError('INTERNAL', 'The call ended without an answer');
    reply.headers(requestIdHeaders(request.id));
    await reply.send(
      options.wire === 'openai'
        ? openAiCompletion(result, call.model, startedAt)
        : anthropicMessage(result, call.model),
    );
    return;
  }

  // Nothing is sent before the first event: a refusal (budget, limits, a provider failing
  // after every retry and fallback) still gets its HTTP status and error body.
  const first = await events.next();
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    ...requestIdHeaders(request.id),
    'x-accel-buffering': 'no',
  });
  const write = (text: string): Promise<void> | undefined => {
    if (raw.destroyed || text === '') return undefined;
    if (raw.write(text)) return undefined;
    return new Promise((resolve) => {
      const done = () => {
        raw.off('drain', done);
        raw.off('close', done);
        resolve();
      };
      raw.once('drain', done);
      raw.once('close', done);
    });
  };

  // The call id is known only at the end; the stream's ids come from our request id.
  const openAi = new OpenAiChunkWriter(request.id, call.model, startedAt);
  const anthropic = new AnthropicEventWriter();
  let started = false;
  let sentOutput = false;
  const start = () => {
    if (started) return '';
    started = true;
    return options.wire === 'openai' ? openAi.start() : anthropic.start(request.id, call.model);
  };

  const handle = (event: LlmStreamEvent): string => {
    switch (event.type) {
      case 'text-delta':
        sentOutput = true;
        return (
          start() +
          (options.wire === 'openai' ? openAi.text(event.text) : anthropic.text(event.text))
        );
      case 'tool-call':
        sentOutput = true;
        return (
          start() + (options.wire === 'openai' ? openAi.toolCall(event) : anthropic.toolCall(event))
        );
      case 'attempt-restart':
        // The wire formats cannot take back output: a retry after some was sent ends the
        // stream with an error instead of splicing two answers together.
        if (sentOutput)
          throw new AppError(
            'PROVIDER_UNAVAILABLE',
            `The provider failed mid-answer (${event.reason}) after output was sent; retry the request`,
            { retryable: true, details: { reason: event.reason } },
          );
        return '';
      case 'reasoning-delta':
        return '';
      case 'finish':
        return (
          start() +
          (options.wire === 'openai'
            ? openAi.finish(event.result, options.includeUsage)
            : anthropic.finish(event.result))
        );
    }
  };

  try {
    if (!first.done) await write(handle(first.value));
    for await (const event of events) {
      const pending = write(handle(event));
      if (pending) await pending;
    }
  } catch (error) {
    if (!raw.destroyed) {
      const appError = toAppError(error);
      const status = wireStatus(appError);
      if (status >= 500) request.log.error({ err: error }, appError.message);
      await write(
        options.wire === 'openai'
          ? `data: ${JSON.stringify(openAiError(appError, status, request.id))}\n\n`
          : `${start()}${anthropicStreamError(appError, status, request.id)}`,
      );
    }
  } finally {
    await events.return(undefined).catch(() => {});
    if (!raw.destroyed) raw.end();
  }
}

const projectParams = z.object({ projectId: z.uuid() });
const keyParams = projectParams.extend({ keyId: z.uuid() });

/** Managing a project's gateway keys (owners; editors list them). */
export const gatewayKeyRoutes: FastifyPluginAsyncZod<{ gateway: GatewayService }> = async (
  app,
  options,
) => {
  const { gateway } = options;
  const tags = ['gateway'];
  const base = '/api/projects/:projectId/gateway/keys';

  app.get(
    base,
    {
      schema: {
        tags,
        summary: "The project's gateway keys (editor); never their secrets",
        params: projectParams,
        response: { 200: gatewayKeyListView },
      },
    },
    async (request) => ({
      items: await gateway.listKeys(request.actor, request.params.projectId),
    }),
  );

  app.post(
    base,
    {
      schema: {
        tags,
        summary: 'Create a gateway key (owner): allowed models and aliases, limits, budgets, cache',
        description:
          'The key is returned once. Outside apps send it as a Bearer token (or x-api-key) to /v1/chat/completions, /v1/messages and /v1/models (docs/gateway.md).',
        params: projectParams,
        body: z.unknown(),
        response: { 201: gatewayKeyCreatedView },
      },
    },
    async (request, reply) => {
      const created = await gateway.createKey(
        request.actor,
        request.params.projectId,
        request.body,
      );
      return reply.status(201).send(created);
    },
  );

  app.patch(
    `${base}/:keyId`,
    {
      schema: {
        tags,
        summary: "Change a gateway key's models, limits, budgets or cache switch (owner)",
        params: keyParams,
        body: z.unknown(),
        response: { 200: gatewayKeyView },
      },
    },
    async (request) =>
      gateway.updateKey(
        request.actor,
        request.params.projectId,
        request.params.keyId,
        request.body,
      ),
  );

  app.delete(
    `${base}/:keyId`,
    {
      schema: {
        tags,
        summary: 'Revoke a gateway key (owner); calls with it are refused from then on',
        params: keyParams,
      },
    },
    async (request, reply) => {
      await gateway.revokeKey(request.actor, request.params.projectId, request.params.keyId);
      return reply.status(204).send();
    },
  );
};
