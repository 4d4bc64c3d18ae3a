import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiKeyService } from './api-key-service.ts';
import { presentApiKey, presentSession } from './auth-presenter.ts';
import {
  apiKeyListSchema,
  apiKeyParams,
  changePasswordBody,
  changePasswordResponse,
  createApiKeyBody,
  createdApiKeySchema,
  mfaCodeBody,
  mfaDisableBody,
  mfaSetupSchema,
  recoveryCodesSchema,
  sessionListSchema,
  sessionParams,
} from './auth-schema.ts';
import type { AuthService } from './auth-service.ts';
import type { MfaService } from './mfa-service.ts';
import type { SessionService } from './session-service.ts';

/** A signed-in user's own credentials: password, sessions, two-factor sign-in, API keys. */
export const accountRoutes: FastifyPluginAsyncZod<{
  auth: AuthService;
  sessions: SessionService;
  mfa: MfaService;
  apiKeys: ApiKeyService;
}> = async (app, options) => {
  const { auth, sessions, mfa, apiKeys } = options;
  const none = z.null();

  app.post(
    '/api/auth/password',
    {
      schema: {
        tags: ['auth'],
        summary: 'Change your password; your other sessions are signed out',
        body: changePasswordBody,
        response: { 200: changePasswordResponse },
      },
    },
    async (request) => auth.changePassword(request.actor, request.body),
  );

  app.get(
    '/api/auth/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Your active sessions',
        response: { 200: sessionListSchema },
      },
    },
    async (request) => ({
      items: (await sessions.list(request.actor)).map((session) =>
        presentSession(session, request.authSession?.id),
      ),
    }),
  );

  app.delete(
    '/api/auth/sessions/:sessionId',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Sign out one of your sessions',
        params: sessionParams,
        response: { 204: none.describe('Revoked') },
      },
    },
    async (request, reply) => {
      await sessions.revoke(request.actor, request.params.sessionId);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/auth/mfa/setup',
    {
      schema: {
        tags: ['mfa'],
        summary: 'Start two-factor setup: a new authenticator secret',
        response: { 200: mfaSetupSchema },
      },
    },
    async (request) => mfa.beginSetup(request.actor),
  );

  app.post(
    '/api/auth/mfa/enable',
    {
      schema: {
        tags: ['mfa'],
        summary: 'Turn two-factor sign-in on with a code from the new secret',
        body: mfaCodeBody,
        response: { 200: recoveryCodesSchema },
      },
    },
    async (request) => ({ recoveryCodes: await mfa.enable(request.actor, request.body.code) }),
  );

  app.post(
    '/api/auth/mfa/disable',
    {
      schema: {
        tags: ['mfa'],
        summary: 'Turn two-factor sign-in off (password and a code)',
        body: mfaDisableBody,
        response: { 204: none.describe('Off') },
      },
    },
    async (request, reply) => {
      await mfa.disable(request.actor, request.body);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/auth/mfa/recovery-codes',
    {
      schema: {
        tags: ['mfa'],
        summary: 'Replace your recovery codes (the old ones stop working)',
        body: mfaCodeBody,
        response: { 200: recoveryCodesSchema },
      },
    },
    async (request) => ({
      recoveryCodes: await mfa.regenerateRecoveryCodes(request.actor, request.body.code),
    }),
  );

  app.get(
    '/api/auth/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Your API keys (never the keys themselves)',
        response: { 200: apiKeyListSchema },
      },
    },
    async (request) => ({ items: (await apiKeys.list(request.actor)).map(presentApiKey) }),
  );

  app.post(
    '/api/auth/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key (the key is shown once)',
        description:
          'Use it as `Authorization: Bearer <key>`. API-key requests need no CSRF token.',
        body: createApiKeyBody,
        response: { 201: createdApiKeySchema },
      },
    },
    async (request, reply) => {
      const { apiKey, key } = await apiKeys.create(request.actor, request.body);
      return reply.status(201).send({ ...presentApiKey(apiKey), key });
    },
  );

  app.delete(
    '/api/auth/api-keys/:keyId',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key',
        params: apiKeyParams,
        response: { 204: none.describe('Revoked') },
      },
    },
    async (request, reply) => {
      await apiKeys.revoke(request.actor, request.params.keyId);
      return reply.status(204).send(null);
    },
  );
};
