import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
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
export const authRoutes: FastifyPluginAsyncZod<AuthRoutesOptions> = async (app, options) => {
  const { auth, sessions, users, settings } = options;
  const tags = ['auth'];
  // Public, and stricter than the global per-IP limit.
  const publicAuth = {
    public: true,
    rateLimit: { max: options.authRateLimit, timeWindow: 60_000 },
  };

  const signedIn = (started: StartedSession) => ({
    status: 'signed-in' as const,
    user: presentUser(started.user),
    csrfToken: started.csrfToken,
    expiresAt: new Date(started.session.expires_at).toISOString(),
  });

  app.get(
    '/api/auth/setup',
    {
      config: publicAuth,
      schema: {
        tags,
        summary: 'Whether first-run setup is still open',
        response: { 200: setupStatusSchema },
      },
    },
    async () => ({ needed: await auth.setupNeeded() }),
  );

  app.post(
    '/api/auth/setup',
    {
      config: publicAuth,
      schema: {
        tags,
        summary: 'Create the first admin (only while no account exists)',
        description:
          'Allowed from the server machine itself, or from anywhere with the one-time setup token the server logs at start-up.',
        body: setupBody,
        response: { 201: signedInSchema },
      },
    },
    async (request, reply) => {
      const started = await auth.setup(request.body, {
        ...clientInfo(request),
        loopback: isLoopbackRequest(request),
      });
      setSessionCookie(
        reply,
        request,
        settings,
        started.token,
        new Date(started.session.expires_at),
      );
      return reply.status(201).send(signedIn(started));
    },
  );

  app.post(
    '/api/auth/login',
    {
      config: publicAuth,
      schema: {
        tags,
        summary: 'Sign in with e-mail and password',
        description:
          'Sets the session cookie and returns the CSRF token, or asks for a second factor when two-factor sign-in is on.',
        body: loginBody,
        response: { 200: loginResponseSchema },
      },
    },
    async (request, reply) => {
      const result = await auth.login(request.body, clientInfo(request));
      if (result.status === 'mfa-required') {
        return { status: 'mfa-required' as const, challengeToken: result.challengeToken };
      }
      setSessionCookie(reply, request, settings, result.token, new Date(result.session.expires_at));
      return signedIn(result);
    },
  );

  app.post(
    '/api/auth/login/mfa',
    {
      config: publicAuth,
      schema: {
        tags,
        summary: 'Finish a sign-in with an authenticator or recovery code',
        body: mfaLoginBody,
        response: { 200: signedInSchema },
      },
    },
    async (request, reply) => {
      const started = await auth.completeMfaLogin(request.body, clientInfo(request));
      setSessionCookie(
        reply,
        request,
        settings,
        started.token,
        new Date(started.session.expires_at),
      );
      return signedIn(started);
    },
  );

  app.post(
    '/api/auth/logout',
    {
      schema: {
        tags,
        summary: 'Sign out this session',
        response: { 204: z.null().describe('Signed out') },
      },
    },
    async (request, reply) => {
      const session = request.authSession;
      if (session) await sessions.revoke(request.actor, session.id);
      clearSessionCookie(reply, request, settings);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/auth/me',
    {
      schema: {
        tags,
        summary: 'The signed-in user, how they signed in, and the CSRF token',
        response: { 200: meSchema },
      },
    },
    async (request) => ({
      user: presentUser(await users.getSelf(request.actor)),
      via: request.actor.via,
      scopes: [...request.actor.scopes],
      csrfToken: request.authSession?.csrfToken ?? null,
    }),
  );

  app.patch(
    '/api/auth/me',
    {
      schema: {
        tags,
        summary: 'Change your display name',
        body: updateMeBody,
        response: { 200: userSchema },
      },
    },
    async (request) => presentUser(await users.updateSelf(request.actor, request.body)),
  );

  app.post(
    '/api/auth/password-reset/request',
    {
      config: publicAuth,
      schema: {
        tags,
        summary: 'Ask for a password-reset link by e-mail',
        description:
          'Always answers 202, whether or not the account exists. Without SMTP, an admin makes the link with `braincells user reset-link`.',
        body: resetRequestBody,
        response: { 202: z.object({ status: z.literal('accepted') }) },
      },
    },
    async (request, reply) => {
      await auth.requestPasswordReset(request.body.email);
      return reply.status(202).send({ status: 'accepted' as const });
    },
  );

  app.post(
    '/api/auth/password-reset/confirm',
    {
      config: publicAuth,
      schema: {
        tags,
        summary: 'Set a new password with a reset token (signs out every session)',
        body: resetConfirmBody,
        response: { 204: z.null().describe('Password changed') },
      },
    },
    async (request, reply) => {
      await auth.resetPassword(request.body);
      return reply.status(204).send(null);
    },
  );
};
