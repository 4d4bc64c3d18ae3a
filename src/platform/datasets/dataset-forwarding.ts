import { createHmac, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { serviceUnavailable } from '../app-error.ts';
import type { AppInstance } from '../http/app-instance.ts';
import { REQUEST_ID_HEADER } from '../http/request-id.ts';
import type { Logger } from '../logger.ts';
import type { DatasetLeases } from './dataset-leases.ts';
import { type DatasetServers, noDatasetServer } from './dataset-servers.ts';

/**
 * Requests for a dataset another live server holds are sent on to it (issue 20 item 3,
 * docs/decisions/2026-12-06-dataset-ownership.md). The first server has authenticated the
 * caller (and checked CSRF, origin and rate limits); the owner takes the caller's identity
 * from this header, an HMAC-SHA256 over the identity, method, URL and a 30 s expiry with a
 * key derived from BRAINCELLS_SECRET. Without a valid signature the header gets 401, so it
 * is worth nothing from outside.
 */
export const FORWARDED_IDENTITY_HEADER = 'x-braincells-forwarded';
const MAX_AGE_MS = 30_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the owner learns about a forwarded request's caller. */
export interface ForwardedIdentity {
  /** The caller as the first server authenticated it (src/access Actor, as JSON). */
  actor: unknown;
  method: string;
  url: string;
  expiresAt: number;
}

/** The forwarding key: derived from the deployment secret, used for nothing else. */
export function forwardingKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('braincells dataset forwarding v1').digest();
}

export function signForwardedIdentity(key: Buffer, identity: ForwardedIdentity): string {
  const body = Buffer.from(JSON.stringify(identity)).toString('base64url');
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

/**
 * The identity a forwarded request carries, or undefined when the header is not one we signed
 * for this very request (method and URL), or has expired.
 */
export function verifyForwardedIdentity(
  key: Buffer | undefined,
  header: string,
  request: { method: string; url: string },
  now: number,
): ForwardedIdentity | undefined {
  if (!key || header.length > 8_192) return undefined;
  const [body, mac, extra] = header.split('.');
  if (!body || !mac || extra !== undefined) return undefined;
  const expected = createHmac('sha256', key).update(body).digest();
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let identity: ForwardedIdentity;
  try {
    identity = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as ForwardedIdentity;
  } catch {
    return undefined;
  }
  if (typeof identity.expiresAt !== 'number') return undefined;
  if (identity.expiresAt <= now || identity.expiresAt > now + MAX_AGE_MS) return undefined;
  if (identity.method !== request.method || identity.url !== request.url) return undefined;
  return identity;
}

// Request headers the owner needs to answer as the first server would; the caller's
// credentials (cookie, authorization, CSRF) never travel.
const FORWARDED_REQUEST_HEADERS = [
  'content-type',
  'content-length',
  'accept',
  'accept-language',
  'last-event-id',
  'if-none-match',
  'if-match',
  'range',
];
// Hop-by-hop, or describing a body fetch has already decoded.
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-encoding',
  'content-length',
  'date',
]);

/**
 * Routes that make a dataset without naming one: an `api` server sends them to a server that
 * may hold datasets (the new dataset's file is claimed where it is made).
 */
const DATASET_MAKING_ROUTES: ReadonlySet<string> = new Set([
  'POST /api/projects/:projectId/datasets',
  'POST /api/projects/:projectId/images/import',
]);

/** Routes that read every dataset of a project (their row counts): sent on by an `api` server. */
const DATASET_LISTING_ROUTES: ReadonlySet<string> = new Set([
  'GET /api/projects/:projectId/datasets',
]);

/**
 * Adds, to every route with a `:datasetId` parameter, a step after authentication: when
 * another live server holds the dataset, the request goes there and its answer comes back
 * as it is. A request that was itself forwarded is always served here (no loops).
 *
 * On an `api` server (which holds no dataset, issue 20 item 1) a dataset nobody holds goes to
 * a live server that may hold it (dataset-servers.ts), which claims it; so do the routes that
 * make a dataset. With no such server alive the answer is 503 at once.
 */
export function installDatasetForwarding(
  app: AppInstance,
  options: {
    leases: DatasetLeases;
    servers: Pick<DatasetServers, 'mayHold' | 'pick'>;
    /** undefined without BRAINCELLS_SECRET: nothing is forwarded, no identity accepted. */
    key: Buffer | undefined;
    logger: Logger;
    now?: () => number;
  },
): void {
  const { leases, servers, key, logger } = options;
  const now = options.now ?? Date.now;

  /** Where a request for this dataset (or, undefined, for a new one) is served; undefined: here. */
  const target = async (
    request: FastifyRequest,
    datasetId: string | undefined,
  ): Promise<{ serverId: string; url: string } | undefined> => {
    if (datasetId !== undefined) {
      if (leases.holds(datasetId)) return undefined;
      if (key) {
        const owner = await leases.owner(datasetId);
        if (owner && owner.serverId !== leases.serverId && owner.url)
          return { serverId: owner.serverId, url: owner.url };
      }
      if (servers.mayHold) return undefined;
    }
    // An api server: a dataset nobody holds (or one being made) goes to a server that may hold it.
    if (!key)
      throw serviceUnavailable(
        'This server (BRAINCELLS_ROLE=api) holds no dataset and cannot forward without BRAINCELLS_SECRET',
        datasetId === undefined ? {} : { datasetId },
      );
    const picked = await servers.pick(
      datasetId ?? (request.params as { projectId?: string }).projectId ?? '',
    );
    if (!picked) throw noDatasetServer(datasetId);
    return picked;
  };

  const forward = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.headers[FORWARDED_IDENTITY_HEADER] !== undefined) return;
    const datasetId = (request.params as { datasetId?: unknown }).datasetId;
    if (typeof datasetId !== 'string' || !UUID.test(datasetId)) return;
    if (!key && servers.mayHold) return;
    const to = await target(request, datasetId);
    if (to) return send(request, reply, to, datasetId);
  };
  const forwardNew = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.headers[FORWARDED_IDENTITY_HEADER] !== undefined) return;
    const to = await target(request, undefined);
    if (to) return send(request, reply, to, undefined);
  };
  // The list counts each dataset's rows: a server that may hold them does. With none alive it
  // is served here, its counts unknown (null), rather than refused.
  const forwardList = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.headers[FORWARDED_IDENTITY_HEADER] !== undefined || !key) return;
    const to = await servers.pick((request.params as { projectId?: string }).projectId ?? '');
    if (to) return send(request, reply, to, undefined);
  };

  const send = (
    request: FastifyRequest,
    reply: FastifyReply,
    owner: { serverId: string; url: string },
    datasetId: string | undefined,
  ) =>
    forwardToOwner(request, reply, owner, {
      key: key!,
      logger,
      now,
      details: datasetId === undefined ? {} : { datasetId },
    });

  app.addHook('onRoute', (route) => {
    const on = (routes: ReadonlySet<string>) =>
      !servers.mayHold &&
      [route.method].flat().some((method) => routes.has(`${method} ${route.url}`));
    const step = on(DATASET_MAKING_ROUTES)
      ? forwardNew
      : on(DATASET_LISTING_ROUTES)
        ? forwardList
        : route.url.includes('/datasets/:datasetId')
          ? forward
          : undefined;
    if (!step) return;
    const existing = route.preHandler === undefined ? [] : [route.preHandler].flat();
    route.preHandler = [step, ...existing] as RouteOptions['preHandler'];
  });
}

/**
 * Sends `request` to the server at `owner.url` as that server's own request from the caller
 * this server authenticated (signed identity, request id kept), and answers with its reply as
 * it is. Shared by the dataset forwarding above and the monitor's per-project files
 * (src/monitor/monitor-forwarding.ts).
 */
export async function forwardToOwner(
  request: FastifyRequest,
  reply: FastifyReply,
  owner: { serverId: string; url: string },
  options: { key: Buffer; logger: Logger; now: () => number; details: Record<string, unknown> },
): Promise<FastifyReply> {
  const { key, logger, now } = options;
  const headers: Record<string, string> = {
    [REQUEST_ID_HEADER]: request.id,
    [FORWARDED_IDENTITY_HEADER]: signForwardedIdentity(key, {
      actor: request.actor,
      method: request.method,
      url: request.url,
      expiresAt: now() + MAX_AGE_MS,
    }),
  };
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  let body: string | Readable | undefined;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    if (request.body !== undefined) {
      // Already parsed (JSON): sent as parsed, its length recomputed.
      body = JSON.stringify(request.body);
      delete headers['content-length'];
    } else body = request.raw; // not read yet (uploads): streamed through
  }
  // The caller went away before the answer was sent: the owner's work for it stops too.
  const aborted = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) aborted.abort();
  });
  let response: Response;
  try {
    response = await fetch(new URL(request.url, owner.url), {
      method: request.method,
      headers,
      ...(body === undefined
        ? {}
        : { body: body as unknown as NonNullable<RequestInit['body']>, duplex: 'half' as const }),
      redirect: 'manual',
      signal: aborted.signal,
    });
  } catch (error) {
    logger.warn({ err: error, ...options.details, owner: owner.serverId }, 'owner unreachable');
    throw serviceUnavailable(
      'The server holding this data is unreachable; try again',
      options.details,
    );
  }
  reply.status(response.status);
  response.headers.forEach((value, name) => {
    if (!DROPPED_RESPONSE_HEADERS.has(name)) reply.header(name, value);
  });
  return reply.send(response.body ? Readable.fromWeb(response.body as never) : undefined);
}
