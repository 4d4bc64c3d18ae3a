import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/**
 * What a service may want to know about the request it serves without every signature
 * carrying it: the request id and client address, for the audit log and log lines. Outside
 * a request (jobs, CLI) there is none.
 */
export interface RequestContext {
  requestId: string;
  ip: string | undefined;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

export function runWithRequestContext<T>(context: RequestContext, work: () => T): T {
  return storage.run(context, work);
}

/**
 * A callback-style preHandler: Fastify calls the route handler from inside `done`, so the
 * handler and everything it awaits run within the context.
 */
export function enterRequestContext(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  storage.run({ requestId: request.id, ip: request.ip }, done);
}
