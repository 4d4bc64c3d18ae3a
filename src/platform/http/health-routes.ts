import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, serviceUnavailable } from '../app-error.ts';
import type { ServerRole } from '../config-deployment.ts';
import { FORWARDED_IDENTITY_HEADER } from '../datasets/dataset-forwarding.ts';
import { RUN_HANDOFF_ROUTE } from '../datasets/dataset-run-handoff.ts';
import type { Metrics } from '../metrics.ts';

export interface HealthRoutesOptions {
  checks: Record<string, () => Promise<void>>;
  metrics: Metrics;
  checkTimeoutMs?: number;
}

function withTimeout(check: () => Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    check().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The routes a worker (BRAINCELLS_ROLE=worker) serves: a load balancer probes them. */
export const WORKER_ROUTES: ReadonlySet<string> = new Set([
  '/healthz',
  '/readyz',
  '/metrics',
  // A worker holding a dataset is where the runs on it are handed (dataset-run-handoff.ts).
  RUN_HANDOFF_ROUTE,
]);

/**
 * Refuses, on a worker, every route but the health ones (404: this server does not serve it),
 * except requests another server forwarded for a dataset the worker holds (their signature is
 * checked by the authentication that follows).
 */
export function servedByRole(role: ServerRole, request: FastifyRequest): void {
  if (role !== 'worker' || WORKER_ROUTES.has(request.routeOptions.url ?? '')) return;
  if (request.headers[FORWARDED_IDENTITY_HEADER] !== undefined) return;
  throw new AppError(
    'NOT_FOUND',
    'This server runs jobs only (BRAINCELLS_ROLE=worker); send API requests to an api or all server',
  );
}

/** Liveness, readiness and Prometheus metrics; public by design. */
export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, options) => {
  const timeoutMs = options.checkTimeoutMs ?? 2_000;

  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process answers',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        summary: 'Readiness: PostgreSQL, DuckDB, the job queue and (when configured) Redis answer',
        response: {
          200: z.object({
            status: z.literal('ready'),
            checks: z.record(z.string(), z.literal('ok')),
          }),
        },
      },
    },
    async (request) => {
      const names = Object.keys(options.checks);
      const results = await Promise.allSettled(
        names.map((name) => withTimeout(options.checks[name]!, timeoutMs)),
      );
      const failed: Record<string, string> = {};
      results.forEach((result, index) => {
        if (result.status === 'rejected') {
          failed[names[index]!] = 'failed';
          request.log.warn({ check: names[index], err: result.reason }, 'readiness check failed');
        }
      });
      const failedNames = Object.keys(failed);
      if (failedNames.length > 0) {
        throw serviceUnavailable(`Not ready: ${failedNames.join(', ')}`, { failed: failedNames });
      }
      return {
        status: 'ready' as const,
        checks: Object.fromEntries(names.map((n) => [n, 'ok' as const])),
      };
    },
  );

  app.get(
    '/metrics',
    {
      config: { public: true },
      schema: { tags: ['health'], summary: 'Prometheus metrics', hide: true },
    },
    async (_request, reply) => {
      reply.header('content-type', options.metrics.registry.contentType);
      return options.metrics.registry.metrics();
    },
  );
};
