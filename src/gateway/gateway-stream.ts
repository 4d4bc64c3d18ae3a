import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LlmCallResult, LlmStreamEvent } from '../llm/llm-service.ts';
import { AppError } from '../platform/app-error.ts';
import { toAppError } from '../platform/http/error-envelope.ts';
import type { GatewayCall, GatewayProtocol, GatewayStreamWriter } from './gateway-protocol.ts';

/** Our request id under both names the official clients read (OpenAI's, Anthropic's). */
export const requestIdHeaders = (id: string) => ({ 'x-request-id': id, 'request-id': id });

/** The HTTP status a failure gets on the wire: upstream failures after fallbacks are 502. */
export function wireStatus(error: AppError): number {
  if (error.code === 'PROVIDER_ERROR') return error.details?.reason === 'bad-request' ? 400 : 502;
  if (error.code === 'PROVIDER_UNAVAILABLE') return 502;
  return error.status;
}

/** A signal that aborts when the client goes away before the response has ended. */
export function abortOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished)
      controller.abort(new Error('the client closed the connection'));
  });
  return controller.signal;
}

/**
 * A client that hangs up is no server error: the upstream call was aborted with it (and
 * recorded `aborted`, charged what had arrived), so this is logged at info with the request id.
 */
export function logClientGone(request: FastifyRequest): void {
  request.log.info({ url: request.url }, 'gateway client disconnected; upstream call aborted');
}

/**
 * Answers one call: the whole result as one body, or the stream event by event. Nothing is
 * sent before the first event, so a refusal (budget, limits, every target failing) keeps its
 * HTTP status even on a streamed request.
 */
export async function serveCall(
  request: FastifyRequest,
  reply: FastifyReply,
  protocol: GatewayProtocol,
  call: GatewayCall,
  events: AsyncGenerator<LlmStreamEvent, void, undefined>,
  closed: AbortSignal,
): Promise<void> {
  const startedAt = Date.now();
  if (!call.stream) {
    let result: LlmCallResult | undefined;
    for await (const event of events) if (event.type === 'finish') result = event.result;
    if (!result) throw new AppError('INTERNAL', 'The call ended without an answer');
    reply.headers(requestIdHeaders(request.id));
    await reply.send(protocol.completion(result, call.model, startedAt));
    return;
  }
  const first = await events.next();
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    ...requestIdHeaders(request.id),
    'x-accel-buffering': 'no',
  });
  await pipeEvents(request, reply, protocol.streamWriter(request.id, call, startedAt), {
    first,
    events,
    closed,
  });
}

/** Writes `text`; resolves when the socket can take more (or is gone). */
function writeTo(raw: FastifyReply['raw'], text: string): Promise<void> | undefined {
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
}

/** Turns stream events into SSE text, opening the stream before the first output. */
function eventWriter(writer: GatewayStreamWriter) {
  let started = false;
  let sentOutput = false;
  const start = () => {
    if (started) return '';
    started = true;
    return writer.start();
  };
  return {
    fail: (error: AppError, status: number) =>
      (writer.errorOpensStream ? start() : '') + writer.error(error, status),
    handle(event: LlmStreamEvent): string {
      switch (event.type) {
        case 'text-delta':
          sentOutput = true;
          return start() + writer.text(event.text);
        case 'tool-call':
          sentOutput = true;
          return start() + writer.toolCall(event);
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
          return start() + writer.finish(event.result);
      }
    },
  };
}

async function pipeEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  writer: GatewayStreamWriter,
  stream: {
    first: IteratorResult<LlmStreamEvent, void>;
    events: AsyncGenerator<LlmStreamEvent, void, undefined>;
    closed: AbortSignal;
  },
): Promise<void> {
  const raw = reply.raw;
  const events = eventWriter(writer);
  try {
    if (!stream.first.done) await writeTo(raw, events.handle(stream.first.value));
    for await (const event of stream.events) {
      const pending = writeTo(raw, events.handle(event));
      if (pending) await pending;
    }
  } catch (error) {
    if (stream.closed.aborted || raw.destroyed) {
      logClientGone(request);
      return;
    }
    const appError = toAppError(error);
    const status = wireStatus(appError);
    if (status >= 500) request.log.error({ err: error }, appError.message);
    await writeTo(raw, events.fail(appError, status));
  } finally {
    await stream.events.return(undefined).catch(() => {});
    if (!raw.destroyed) raw.end();
  }
}
