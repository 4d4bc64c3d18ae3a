import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { routePlugin } from '../platform/http/route-plugin.ts';
import type { AuthSettings } from './auth-plugin.ts';
import {
  clearSessionCookie,
  clientInfo,
  isLoopbackRequest,
  setSessionCookie,
} from './auth-plugin.ts';
import { presentUser } from './auth-presenter.ts';
import {
  loginBody,
  loginResponseSchema,
  meSchema,
  mfaLoginBody,
  resetConfirmBody,
  resetRequestBody,
  setupBody,
  setupStatusSchema,
  signedInSchema,
  updateMeBody,
  userSchema,
} from './auth-schema.ts';
import type { AuthService } from './auth-service.ts';
import type { SessionService, StartedSession } from './session-service.ts';
import type { UserService } from './user-service.ts';

export interface AuthRoutesOptions {
  auth: AuthService;
  sessions: SessionService;
  users: UserService;
  settings: AuthSettings;
  /** Requests per minute per IP on each sign-in, setup and reset route. */
  authRateLimit: number;
}

/** Sign-in, first-run setup, password reset, sign-out and "who am I". */
export const authRoutes = routePlugin<AuthRoutesOptions>(['auth'], (route, options) => {
  const { auth, sessions, users, settings } = options;
  // Public, and stricter than the global per-IP limit.
  const publicAuth = {
    public: true,
    rateLimit: { max: options.authRateLimit, timeWindow: 60_000 },
  };

  /** Sets the new session's cookie and answers with who signed in and the CSRF token. */
  const signedIn = (request: FastifyRequest, reply: FastifyReply, started: StartedSession) => {
    const expiresAt = new Date(started.session.expires_at);
    setSessionCookie(reply, request, settings, started.token, expiresAt);
    return {
      status: 'signed-in' as const,
      user: presentUser(started.user),
      csrfToken: started.csrfToken,
      expiresAt: expiresAt.toISOString(),
    };
  };

  route.get(
    '/api/auth/setup',
    {
      summary: 'Whether first-run setup is still open',
      config: publicAuth,
      response: setupStatusSchema,
    },
    async () => ({ needed: await auth.setupNeeded() }),
  );

  route.post(
    '/api/auth/setup',
    {
      summary: 'Create the first admin (only while no account exists)',
      description:
        'Allowed from the server machine itself, or from anywhere with the one-time setup token the server logs at start-up.',
      body: setupBody,
      config: publicAuth,
      response: signedInSchema,
      status: 201,
    },
    async (request, reply) => {
      const started = await auth.setup(request.body, {
        ...clientInfo(request),
        loopback: isLoopbackRequest(request),
      });
      return signedIn(request, reply, started);
    },
  );

  route.post(
    '/api/auth/login',
    {
      summary: 'Sign in with e-mail and password',
      description:
        'Sets the session cookie and returns the CSRF token, or asks for a second factor when two-factor sign-in is on.',
      body: loginBody,
      config: publicAuth,
      response: loginResponseSchema,
    },
    async (request, reply) => {
      const result = await auth.login(request.body, clientInfo(request));
      if (result.status === 'mfa-required') {
        return { status: 'mfa-required' as const, challengeToken: result.challengeToken };
      }
      return signedIn(request, reply, result);
    },
  );

  route.post(
    '/api/auth/login/mfa',
    {
      summary: 'Finish a sign-in with an authenticator or recovery code',
      body: mfaLoginBody,
      config: publicAuth,
      response: signedInSchema,
    },
    async (request, reply) => {
      const started = await auth.completeMfaLogin(request.body, clientInfo(request));
      return signedIn(request, reply, started);
    },
  );

  route.post(
    '/api/auth/logout',
    { summary: 'Sign out this session', response: z.null().describe('Signed out'), status: 204 },
    async (request, reply) => {
      const session = request.authSession;
      if (session) await sessions.revoke(request.actor, session.id);
      clearSessionCookie(reply, request, settings);
    },
  );

  route.get(
    '/api/auth/me',
    { summary: 'The signed-in user, how they signed in, and the CSRF token', response: meSchema },
    async (request) => ({
      user: presentUser(await users.getSelf(request.actor)),
      via: request.actor.via,
      scopes: [...request.actor.scopes],
      csrfToken: request.authSession?.csrfToken ?? null,
    }),
  );

  route.patch(
    '/api/auth/me',
    { summary: 'Change your display name', body: updateMeBody, response: userSchema },
    async (request) => presentUser(await users.updateSelf(request.actor, request.body)),
  );

  route.post(
    '/api/auth/password-reset/request',
    {
      summary: 'Ask for a password-reset link by e-mail',
      description:
        'Always answers 202, whether or not the account exists. Without SMTP, an admin makes the link with `braincells user reset-link`.',
      body: resetRequestBody,
      config: publicAuth,
      response: z.object({ status: z.literal('accepted') }),
      status: 202,
    },
    async (request) => {
      await auth.requestPasswordReset(request.body.email);
      return { status: 'accepted' as const };
    },
  );

  route.post(
    '/api/auth/password-reset/confirm',
    {
      summary: 'Set a new password with a reset token (signs out every session)',
      body: resetConfirmBody,
      config: publicAuth,
      response: z.null().describe('Password changed'),
      status: 204,
    },
    async (request) => {
      await auth.resetPassword(request.body);
    },
  );
});
