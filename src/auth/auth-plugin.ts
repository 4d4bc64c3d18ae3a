import cookie from '@fastify/cookie';
import type { FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import type { Actor } from '../access/actor.ts';
import { hasScope } from '../access/scopes.ts';
import { AppError, unauthenticated } from '../platform/app-error.ts';
import { constantTimeEqual } from '../platform/crypto.ts';
import {
  FORWARDED_IDENTITY_HEADER,
  verifyForwardedIdentity,
} from '../platform/datasets/dataset-forwarding.ts';
import type { AppInstance } from '../platform/http/app-instance.ts';
import type { RateLimiter } from '../platform/http/rate-limit.ts';
import type { ApiKeyService } from './api-key-service.ts';
import { csrfTokenFor } from './auth-tokens.ts';
import type { ClientInfo, SessionService } from './session-service.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Reachable without a session or API key. Every public route is listed in
     * docs/security.md and in the route-table test (src/auth/route-table.test.ts).
     */
    public?: boolean;
    /**
     * A POST that only reads (a query with a body: SQL, a row window, a prompt preview):
     * API keys with just the `read` scope may call it. Listed in docs/security.md.
     */
    readOnly?: boolean;
  }
  interface FastifyRequest {
    /** Who is calling. Reading it on a public route throws UNAUTHENTICATED. */
    readonly actor: Actor;
    /** The session behind a cookie sign-in; undefined for API keys and public routes. */
    readonly authSession: { id: string; csrfToken: string } | undefined;
  }
  interface FastifyInstance {
    /** Every route and whether it is public, in registration order. */
    readonly routeSecurity: readonly RouteSecurity[];
  }
}

export interface RouteSecurity {
  readonly method: string;
  readonly url: string;
  readonly public: boolean;
  /** A POST that only reads: open to read-only API keys. */
  readonly readOnly: boolean;
}

export const SESSION_COOKIE = 'bc_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const ACTOR = Symbol('braincells.actor');
const SESSION = Symbol('braincells.session');
type Authenticated = FastifyRequest & {
  [ACTOR]: Actor | null;
  [SESSION]: { id: string; csrfToken: string } | null;
};

export interface AuthSettings {
  /** Mark the cookie Secure even on plain HTTP (TLS terminated by a proxy). */
  secureCookies: boolean;
  /** Origins (besides the server's own) allowed to send state-changing requests. */
  allowedOrigins: readonly string[];
  /**
   * The server listens on a loopback interface only: `localhost`, `127.x.x.x` and `[::1]` on
   * the same scheme and port are one origin (the UI opened at http://localhost:3000 while the
   * server binds 127.0.0.1 must not turn every save into 403).
   */
  loopbackOnly: boolean;
}

const LOOPBACK_HOSTNAME = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/i;

/** Whether the server's bind address is reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTNAME.test(host) || host === '::1';
}

/** Both URLs name this machine's loopback, with the same scheme and port. */
function sameLoopbackOrigin(origin: string, own: string): boolean {
  let theirs: URL;
  let ours: URL;
  try {
    theirs = new URL(origin);
    ours = new URL(own);
  } catch {
    return false;
  }
  return (
    theirs.protocol === ours.protocol &&
    theirs.port === ours.port &&
    LOOPBACK_HOSTNAME.test(theirs.hostname) &&
    LOOPBACK_HOSTNAME.test(ours.hostname)
  );
}

export function clientInfo(request: FastifyRequest): ClientInfo {
  const agent = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof agent === 'string' ? agent : undefined };
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/**
 * From this machine and not relayed: a reverse proxy on the same host makes every request
 * look local, so any forwarding header disqualifies it.
 */
export function isLoopbackRequest(request: FastifyRequest): boolean {
  const relayed =
    request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined;
  return !relayed && LOOPBACK.test(request.socket.remoteAddress ?? request.ip);
}

export function setSessionCookie(
  reply: FastifyReply,
  request: FastifyRequest,
  settings: AuthSettings,
  token: string,
  expiresAt: Date,
): void {
  reply.setCookie(SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure: settings.secureCookies || request.protocol === 'https',
    expires: expiresAt,
  });
}

export function clearSessionCookie(
  reply: FastifyReply,
  request: FastifyRequest,
  settings: AuthSettings,
): void {
  reply.clearCookie(SESSION_COOKIE, {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure: settings.secureCookies || request.protocol === 'https',
  });
}

function parseBearer(header: string): string | undefined {
  const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
  return match?.[1];
}

/**
 * Authentication for every route, installed before any route exists:
 * - each route gets an onRequest hook (after the per-IP rate limit, so floods of bad
 *   credentials are counted) that accepts `Authorization: Bearer <API key>` or the session
 *   cookie, and answers 401 otherwise — unless the route says `config: { public: true }`;
 * - cookie-authenticated requests that change state must carry `x-csrf-token` (403);
 * - API keys without the write scope cannot change state (403); routes marked
 *   `config: { readOnly: true }` (POSTs that only read) are open to them;
 * - state-changing requests from a browser Origin other than ours are refused (403);
 * - the per-user rate limit is counted once the user is known.
 */
export async function installAuth(
  app: AppInstance,
  deps: {
    sessions: SessionService;
    apiKeys: ApiKeyService;
    rateLimiter: RateLimiter;
    settings: AuthSettings;
    /**
     * The key of identities other servers forward with a dataset's requests
     * (platform/datasets/dataset-forwarding.ts); undefined: such a header is always refused.
     */
    forwardingKey?: Buffer | undefined;
  },
): Promise<void> {
  const { sessions, apiKeys, rateLimiter, settings } = deps;
  await app.register(cookie, { hook: 'onRequest' });

  app.decorateRequest(ACTOR, null);
  app.decorateRequest(SESSION, null);
  app.decorateRequest('actor', {
    getter(this: FastifyRequest) {
      const actor = (this as Authenticated)[ACTOR];
      if (!actor) throw unauthenticated();
      return actor;
    },
  });
  app.decorateRequest('authSession', {
    getter(this: FastifyRequest) {
      return (this as Authenticated)[SESSION] ?? undefined;
    },
  });

  const routes: RouteSecurity[] = [];
  app.decorate('routeSecurity', routes);

  const allowedOrigins = new Set(settings.allowedOrigins);
  function checkOrigin(request: FastifyRequest): void {
    if (SAFE_METHODS.has(request.method)) return;
    const origin = request.headers.origin;
    if (origin === undefined) return;
    const own = `${request.protocol}://${request.host}`;
    if (origin === own || allowedOrigins.has(origin)) return;
    if (settings.loopbackOnly && sameLoopbackOrigin(origin, own)) return;
    throw new AppError('FORBIDDEN', 'Cross-origin request refused', {
      details: { reason: 'origin' },
    });
  }

  // Decided per request from the route's final config (a plugin's own onRoute hook may mark
  // its routes public after this one ran).
  const authenticate: onRequestHookHandler = async (request, reply) => {
    checkOrigin(request);
    if (request.routeOptions.config.public === true) return;
    const target = request as Authenticated;
    const forwarded = request.headers[FORWARDED_IDENTITY_HEADER];
    if (forwarded !== undefined) {
      // Sent by another server of the deployment, which authenticated the caller (and
      // counted its rate limit); worth nothing without our signature over this very request.
      const identity =
        typeof forwarded === 'string'
          ? verifyForwardedIdentity(deps.forwardingKey, forwarded, request, Date.now())
          : undefined;
      if (!identity) throw unauthenticated('Invalid forwarded identity');
      target[ACTOR] = identity.actor as Actor;
      return;
    }
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const key = parseBearer(authorization);
      if (!key) throw unauthenticated('Authorization must be "Bearer <API key>"');
      const found = await apiKeys.authenticate(key);
      if (!found) throw unauthenticated('Invalid, expired or revoked API key');
      const reads =
        SAFE_METHODS.has(request.method) || request.routeOptions.config.readOnly === true;
      if (!reads && !hasScope(found.actor, 'write')) {
        throw new AppError('FORBIDDEN', 'This API key is read-only', {
          details: { reason: 'scope' },
        });
      }
      target[ACTOR] = found.actor;
    } else {
      const token = request.cookies[SESSION_COOKIE];
      if (!token) throw unauthenticated();
      const result = await sessions.authenticate(token);
      if (!result.ok) {
        request.log.info({ reason: result.reason }, 'session refused');
        clearSessionCookie(reply, request, settings);
        throw unauthenticated('Your session has ended; sign in again');
      }
      const csrfToken = csrfTokenFor(token);
      if (!SAFE_METHODS.has(request.method)) {
        const given = request.headers[CSRF_HEADER];
        if (typeof given !== 'string' || !constantTimeEqual(given, csrfToken)) {
          throw new AppError(
            'FORBIDDEN',
            'Missing or invalid CSRF token (send the x-csrf-token header)',
            {
              details: { reason: 'csrf' },
            },
          );
        }
      }
      target[ACTOR] = result.value.actor;
      target[SESSION] = { id: result.value.session.id, csrfToken };
    }
    await rateLimiter.perUser(request, target[ACTOR].userId);
  };

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      routes.push({
        method,
        url: route.url,
        get public() {
          return route.config?.public === true;
        },
        get readOnly() {
          return route.config?.readOnly === true;
        },
      });
    }
    if (route.config?.readOnly === true && route.schema) {
      const note = 'Only reads: open to API keys with the `read` scope.';
      route.schema.description = route.schema.description
        ? `${route.schema.description}\n\n${note}`
        : note;
    }
    const existing = route.onRequest === undefined ? [] : [route.onRequest].flat();
    // A HEAD route copied from its GET already carries the hook.
    if (!existing.includes(authenticate)) route.onRequest = [...existing, authenticate];
  });
}
