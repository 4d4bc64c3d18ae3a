import { z } from 'zod';
import { routePlugin } from '../platform/http/route-plugin.ts';
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
export const accountRoutes = routePlugin<{
  auth: AuthService;
  sessions: SessionService;
  mfa: MfaService;
  apiKeys: ApiKeyService;
}>(['auth'], (route, { auth, sessions, mfa, apiKeys }) => {
  const none = z.null();

  route.post(
    '/api/auth/password',
    {
      summary: 'Change your password; your other sessions are signed out',
      body: changePasswordBody,
      response: changePasswordResponse,
    },
    async (request) => auth.changePassword(request.actor, request.body),
  );

  route.get(
    '/api/auth/sessions',
    { tags: ['sessions'], summary: 'Your active sessions', response: sessionListSchema },
    async (request) => ({
      items: (await sessions.list(request.actor)).map((session) =>
        presentSession(session, request.authSession?.id),
      ),
    }),
  );

  route.delete(
    '/api/auth/sessions/:sessionId',
    {
      tags: ['sessions'],
      summary: 'Sign out one of your sessions',
      params: sessionParams,
      response: none.describe('Revoked'),
      status: 204,
    },
    async (request) => {
      await sessions.revoke(request.actor, request.params.sessionId);
    },
  );

  route.post(
    '/api/auth/mfa/setup',
    {
      tags: ['mfa'],
      summary: 'Start two-factor setup: a new authenticator secret',
      response: mfaSetupSchema,
    },
    async (request) => mfa.beginSetup(request.actor),
  );

  route.post(
    '/api/auth/mfa/enable',
    {
      tags: ['mfa'],
      summary: 'Turn two-factor sign-in on with a code from the new secret',
      body: mfaCodeBody,
      response: recoveryCodesSchema,
    },
    async (request) => ({ recoveryCodes: await mfa.enable(request.actor, request.body.code) }),
  );

  route.post(
    '/api/auth/mfa/disable',
    {
      tags: ['mfa'],
      summary: 'Turn two-factor sign-in off (password and a code)',
      body: mfaDisableBody,
      response: none.describe('Off'),
      status: 204,
    },
    async (request) => {
      await mfa.disable(request.actor, request.body);
    },
  );

  route.post(
    '/api/auth/mfa/recovery-codes',
    {
      tags: ['mfa'],
      summary: 'Replace your recovery codes (the old ones stop working)',
      body: mfaCodeBody,
      response: recoveryCodesSchema,
    },
    async (request) => ({
      recoveryCodes: await mfa.regenerateRecoveryCodes(request.actor, request.body.code),
    }),
  );

  route.get(
    '/api/auth/api-keys',
    {
      tags: ['api-keys'],
      summary: 'Your API keys (never the keys themselves)',
      response: apiKeyListSchema,
    },
    async (request) => ({ items: (await apiKeys.list(request.actor)).map(presentApiKey) }),
  );

  route.post(
    '/api/auth/api-keys',
    {
      tags: ['api-keys'],
      summary: 'Create an API key (the key is shown once)',
      description: 'Use it as `Authorization: Bearer <key>`. API-key requests need no CSRF token.',
      body: createApiKeyBody,
      response: createdApiKeySchema,
      status: 201,
    },
    async (request) => {
      const { apiKey, key } = await apiKeys.create(request.actor, request.body);
      return { ...presentApiKey(apiKey), key };
    },
  );

  route.delete(
    '/api/auth/api-keys/:keyId',
    {
      tags: ['api-keys'],
      summary: 'Revoke an API key',
      params: apiKeyParams,
      response: none.describe('Revoked'),
      status: 204,
    },
    async (request) => {
      await apiKeys.revoke(request.actor, request.params.keyId);
    },
  );
});
