import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

/**
 * One log line per request, written when it completes (method, path without the query
 * string — queries may carry tokens — route pattern, status, duration). The request id is
 * on every line through the child logger's `requestId` label.
 */
// Probes and scrapes arrive every few seconds; successful ones are logged at debug only.
const PROBE_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

export class RequestLogController extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'requestId' });
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const fields = {
      method: request.method,
      path: request.url.split('?')[0],
      route: request.routeOptions.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) request.log.error({ ...fields, err: error }, 'request failed');
    else if (reply.statusCode < 400 && PROBE_ROUTES.has(fields.route ?? '')) {
      request.log.debug(fields, 'request completed');
    } else request.log.info(fields, 'request completed');
  }
}
