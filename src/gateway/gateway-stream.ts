import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LlmCallResult, LlmStreamEvent } from '../llm/llm-service.ts';
import { AppError } from '../platform/app-error.ts';
import { firstEvent } from '../platform/first-event.ts';
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

/**
 * Writes `text`; resolves when the socket can take more (or is gone). Events that arrive
 * together (one read from the provider holds several chunks) leave in one write: the socket
 * is corked until the end of the tick — one system call and one packet instead of one per
 * chunk, and nothing held back longer than the events already at hand. (The socket, not the
 * response: Node keeps a corked response's chunks apart and would send them after the last
 * chunk that `end()` writes.)
 */
function writeTo(raw: FastifyReply['raw'], text: string): Promise<void> | undefined {
  if (raw.destroyed || text === '') return undefined;
  corkForTick(raw);
  if (raw.write(text)) return undefined;
  return firstEvent(raw, ['drain', 'close']);
}

/**
 * Ends the response with its last event: the last chunk of the body in the same write, so a
 * client that stops reading at the last event (the `openai` client cancels the body at
 * `[DONE]`) finds the response complete and keeps the connection for its next call.
 */
function endWith(raw: FastifyReply['raw'], text: string): void {
  if (raw.destroyed || raw.writableEnded) return;
  corkForTick(raw);
  raw.end(text); // end() uncorks the socket: everything leaves in one write
}

function corkForTick(raw: FastifyReply['raw']): void {
  const socket = raw.socket;
  if (!socket || socket.writableCorked > 0) return;
  socket.cork();
  process.nextTick(uncork, socket);
}

function uncork(socket: NonNullable<FastifyReply['raw']['socket']>): void {
  if (socket.writableCorked > 0) socket.uncork();
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
  // `finish` is the last event: the response ends with it, and the call's own clean-up
  // (its rate window settled, …) goes on after the answer has left.
  const send = (event: LlmStreamEvent) => {
    const text = events.handle(event);
    if (event.type !== 'finish') return writeTo(raw, text);
    endWith(raw, text);
    return undefined;
  };
  try {
    if (!stream.first.done) await send(stream.first.value);
    for await (const event of stream.events) {
      const pending = send(event);
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
    if (raw.writableEnded) return;
    endWith(raw, events.fail(appError, status));
  } finally {
    await stream.events.return(undefined).catch(() => {});
    if (!raw.destroyed && !raw.writableEnded) raw.end();
  }
}
