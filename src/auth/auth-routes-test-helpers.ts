import type { LightMyRequestResponse } from 'fastify';
import {
  FAST_PASSWORD_HASH,
  sessionFrom,
  type TestSession,
  type TestUser,
} from '../../test/factories.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import type { TestApp } from '../../test/test-platform.ts';

// What the auth routes' tests (auth-routes.test.ts, auth-accounts.test.ts) share.

// Hashing cost is not what these tests are about (src/auth/password-hash.test.ts covers the
// server's parameters): the app hashes with the factory users' cheap parameters.
export const fast = { passwordHash: FAST_PASSWORD_HASH };

/** The session a real sign-in response set, registered for the log scan. */
export function sessionOf(response: LightMyRequestResponse, user: TestUser): TestSession {
  const cookie = response.cookies.find((c) => c.name === 'bc_session');
  if (!cookie) throw new Error(`no session cookie in ${response.statusCode} ${response.body}`);
  const body = response.json();
  return sessionFrom(user, cookie.value, body.csrfToken, 'unknown');
}

export async function login(
  t: TestApp,
  email: string,
  password: string,
  remoteAddress = '127.0.0.1',
): Promise<LightMyRequestResponse> {
  registerTestSecret('password', password);
  return t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { email, password },
    remoteAddress,
  });
}

/** `POST /api/projects` with these headers: the mutation the CSRF and origin checks guard. */
export const createProject = (
  t: TestApp,
  headers: Record<string, string | undefined>,
  name: string,
) => t.app.inject({ method: 'POST', url: '/api/projects', headers, payload: { name } });

/** One request as a signed-in client sends it. */
export const call = (
  t: TestApp,
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH' | 'PUT',
  url: string,
  headers: Record<string, string>,
  payload?: object,
) => t.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });

export const me = (t: TestApp, headers: Record<string, string>) =>
  t.app.inject({ method: 'GET', url: '/api/auth/me', headers });
