import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventBus, StreamEvent, Subscription } from '../events.ts';

export const HEARTBEAT_MS = 15_000;

export interface SseOptions {
  heartbeatMs?: number;
  bufferLimit?: number;
}

/** The id a reconnecting client sends (header per the EventSource spec, or `?lastEventId=`). */
export function lastEventIdOf(request: FastifyRequest): number | undefined {
  const header = request.headers['last-event-id'];
  const query = (request.query as Record<string, unknown> | undefined)?.lastEventId;
  const raw = typeof header === 'string' ? header : typeof query === 'string' ? query : undefined;
  if (raw === undefined || !/^\d{1,15}$/.test(raw.trim())) return undefined;
  return Number(raw.trim());
}

/** One event in the text/event-stream format (WHATWG HTML §9.2): id, event, data lines. */
export function formatEvent(event: StreamEvent): string {
  const data = JSON.stringify(event.data).replace(/\n/g, '\\n');
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${data}\n\n`;
}

/**
 * Streams one bus stream to one client over SSE until the client goes away. The connection
 * only reads: closing it unsubscribes and stops nothing else. Writes respect the socket's
 * backpressure: while the socket is full, events wait in the subscription's bounded queue
 * (where they coalesce or turn into `resync`). The reply is taken over at once; the
 * subscription (which may read the backlog from the bus's log) follows, and a client gone
 * by then is simply not subscribed.
 */
export function streamToClient(
  request: FastifyRequest,
  reply: FastifyReply,
  bus: EventBus,
  stream: string,
  options: SseOptions = {},
): void {
  const lastEventId = lastEventIdOf(request);
  reply.hijack();
  const socket = reply.raw;
  socket.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
  });
  // Tells EventSource how long to wait before reconnecting.
  socket.write('retry: 2000\n\n');

  let subscription: Subscription | undefined;
  let gone = false;
  let waitingForDrain = false;
  const flush = () => {
    if (waitingForDrain || !subscription || subscription.closed) return;
    const events = subscription.take();
    if (events.length === 0) return;
    const ok = socket.write(events.map(formatEvent).join(''));
    if (!ok) {
      waitingForDrain = true;
      socket.once('drain', () => {
        waitingForDrain = false;
        flush();
      });
    }
  };

  const heartbeat = setInterval(() => {
    if (!waitingForDrain) socket.write(': heartbeat\n\n');
  }, options.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  const close = () => {
    gone = true;
    clearInterval(heartbeat);
    subscription?.close();
  };
  request.raw.on('close', close);
  socket.on('close', close);
  socket.on('error', close);

  bus
    .subscribe(stream, {
      ...(lastEventId === undefined ? {} : { lastEventId }),
      ...(options.bufferLimit === undefined ? {} : { bufferLimit: options.bufferLimit }),
    })
    .then(
      (subscribed) => {
        subscription = subscribed;
        if (gone) {
          subscribed.close();
          return;
        }
        subscribed.onReady(flush);
        flush();
      },
      (error: unknown) => {
        // The bus could not subscribe (its transport is down): end the stream; EventSource
        // reconnects after `retry`.
        request.log.warn({ err: error, stream }, 'event stream could not subscribe');
        close();
        socket.end();
      },
    );
}
