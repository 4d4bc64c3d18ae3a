import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import {
  FORWARDED_IDENTITY_HEADER,
  forwardToOwner,
} from '../platform/datasets/dataset-forwarding.ts';
import type { AppInstance } from '../platform/http/app-instance.ts';
import type { Logger } from '../platform/logger.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Routes reading only PostgreSQL (own calls, the watch setting): answered by any server. */
const SERVED_ANYWHERE = ['/own-calls', '/watch'];

export interface MonitorForwarding {
  /** undefined without BRAINCELLS_SECRET: nothing is forwarded. */
  key: Buffer | undefined;
  logger: Logger;
  now?: () => number;
}

/**
 * Adds, to the monitor's routes that read or write a project's monitor tables, a step after
 * authentication: when another live server holds the project's monitor file (shared mode,
 * monitor-files.ts), the request goes there — caller's identity signed, request id kept, as
 * for datasets (platform/datasets/dataset-forwarding.ts) — and its answer comes back as it
 * is. A request that was itself forwarded is always served here (no loops); one for a project
 * nobody holds is served here, which claims it. Call inside the routes plugin, before routes.
 */
export function installMonitorForwarding(
  app: AppInstance,
  holderElsewhere: (projectId: string) => Promise<{ serverId: string; url: string } | undefined>,
  options: MonitorForwarding,
): void {
  const { key, logger } = options;
  const now = options.now ?? Date.now;
  if (!key) return;

  const forward = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.headers[FORWARDED_IDENTITY_HEADER] !== undefined) return;
    const projectId = (request.params as { projectId?: unknown }).projectId;
    if (typeof projectId !== 'string' || !UUID.test(projectId)) return;
    const owner = await holderElsewhere(projectId);
    if (!owner) return;
    return forwardToOwner(request, reply, owner, { key, logger, now, details: { projectId } });
  };

  app.addHook('onRoute', (route) => {
    const [, tail] = route.url.split('/monitor');
    if (tail === undefined || !route.url.includes(':projectId')) return;
    if (SERVED_ANYWHERE.some((prefix) => tail.startsWith(prefix))) return;
    const existing = route.preHandler === undefined ? [] : [route.preHandler].flat();
    route.preHandler = [forward, ...existing] as RouteOptions['preHandler'];
  });
}
