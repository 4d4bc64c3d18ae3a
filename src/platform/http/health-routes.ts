import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { serviceUnavailable } from '../app-error.ts';
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
        summary: 'Readiness: PostgreSQL, DuckDB and the job queue answer',
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
