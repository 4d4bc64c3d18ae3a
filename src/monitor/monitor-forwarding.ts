import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { serviceUnavailable, unauthenticated, validationError } from '../platform/app-error.ts';
import {
  FORWARDED_IDENTITY_HEADER,
  forwardToOwner,
  signForwardedIdentity,
  verifyForwardedIdentity,
} from '../platform/datasets/dataset-forwarding.ts';
import type { AppInstance } from '../platform/http/app-instance.ts';
import type { Logger } from '../platform/logger.ts';
import type { RepriceResult } from './monitor-reprice.ts';

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
    if (route.url.startsWith('/api/internal/')) return; // server to server, never forwarded
    const [, tail] = route.url.split('/monitor');
    if (tail === undefined || !route.url.includes(':projectId')) return;
    if (SERVED_ANYWHERE.some((prefix) => tail.startsWith(prefix))) return;
    const existing = route.preHandler === undefined ? [] : [route.preHandler].flat();
    route.preHandler = [forward, ...existing] as RouteOptions['preHandler'];
  });
}

/**
 * Where the server holding a project's monitor file reprices it for a `monitor.reprice` job
 * another server picked up (docs/deploy.md "Monitor data across servers"): the job's server
 * asks the holder and waits for its answer, so the job ends when the work is done wherever
 * the file is, instead of failing until a try happens to land on the holder. Outside the user
 * auth: signed like the runs' hand-off (`{ server }`, method, URL, 30 s expiry).
 */
export const MONITOR_REPRICE_ROUTE = '/api/internal/monitor/:projectId/reprice';

/** How long a repricing on the holder may take before the job's try fails (and is retried). */
const REPRICE_WAIT_MS = 10 * 60_000;

export interface RepriceHandOff {
  /** undefined without BRAINCELLS_SECRET: nothing is handed (the job fails retryably as before). */
  key: Buffer | undefined;
  /** This server's id (the sender named in the signature). */
  serverId: string;
  now?: () => number;
}

/** Asks `holder` to reprice the project's events of `model` from `since` on; its result. */
export async function repriceOnHolder(
  holder: { serverId: string; url: string },
  request: { projectId: string; model: string; since?: Date | undefined },
  handOff: RepriceHandOff & { key: Buffer },
): Promise<RepriceResult> {
  const now = handOff.now ?? Date.now;
  const url = new URL(
    MONITOR_REPRICE_ROUTE.replace(':projectId', encodeURIComponent(request.projectId)),
    holder.url,
  );
  const header = signForwardedIdentity(handOff.key, {
    actor: { server: handOff.serverId },
    method: 'POST',
    url: url.pathname,
    expiresAt: now() + 30_000,
  });
  const unavailable = (details: Record<string, unknown>) =>
    serviceUnavailable("The server holding this project's monitor data could not reprice it", {
      projectId: request.projectId,
      holder: holder.serverId,
      ...details,
    });
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { [FORWARDED_IDENTITY_HEADER]: header, 'content-type': 'application/json' },
      body: JSON.stringify({ model: request.model, since: request.since?.toISOString() }),
      signal: AbortSignal.timeout(REPRICE_WAIT_MS),
    });
  } catch (error) {
    // Dead or cut off: the job's retry finds the file's next holder (or takes it over).
    throw unavailable({ reason: (error as Error).message });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw unavailable({ status: response.status });
  }
  return (await response.json()) as RepriceResult;
}

/**
 * The holder's side of repriceOnHolder. `reprice` runs here only (it never hands on: a
 * server that no longer holds the file answers 503 and the sender's job tries again).
 */
export function installRepriceHandOff(
  app: AppInstance,
  options: {
    key: Buffer | undefined;
    reprice: (
      projectId: string,
      request: { model: string; since?: Date | undefined },
    ) => Promise<RepriceResult>;
    now?: () => number;
  },
): void {
  const now = options.now ?? Date.now;
  app.post(
    MONITOR_REPRICE_ROUTE,
    { schema: { hide: true }, config: { public: true } },
    async (request) => {
      const header = request.headers[FORWARDED_IDENTITY_HEADER];
      const identity =
        typeof header === 'string'
          ? verifyForwardedIdentity(options.key, header, request, now())
          : undefined;
      if (!identity) throw unauthenticated('Only a server of this deployment may ask this');
      const { projectId } = request.params as { projectId: string };
      if (!UUID.test(projectId))
        throw validationError('projectId must be a UUID', [
          { path: 'projectId', message: 'must be a UUID' },
        ]);
      const body = (request.body ?? {}) as { model?: unknown; since?: unknown };
      if (typeof body.model !== 'string' || body.model.length === 0)
        throw validationError('model is required', [{ path: 'model', message: 'required' }]);
      let since: Date | undefined;
      if (body.since !== undefined && body.since !== null) {
        since = typeof body.since === 'string' ? new Date(body.since) : undefined;
        if (!since || Number.isNaN(since.getTime()))
          throw validationError('since must be an ISO date', [
            { path: 'since', message: 'must be an ISO date' },
          ]);
      }
      return options.reprice(projectId, { model: body.model, since });
    },
  );
}
