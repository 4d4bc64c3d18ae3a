import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createApiKey,
  createSignedInUser,
  createUser,
  newPassword,
  signIn,
  type TestSession,
  type TestUser,
  uniqueEmail,
} from '../../test/factories.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { testAppPerSuite } from '../../test/per-suite.ts';
import { call, createProject, fast, login, me, sessionOf } from './auth-routes-test-helpers.ts';
import { base32Decode, totp } from './totp.ts';

// The auth routes, continued from auth-routes.test.ts: password reset, two-factor sign-in, API
// keys and accounts.

describe('password reset', () => {
  const t = testAppPerSuite({ features: fast });

  async function resetToken(email: string): Promise<string> {
    const { link } = await t.app.services.auth.createResetLink(
      {
        userId: '00000000-0000-0000-0000-000000000000',
        isAdmin: true,
        via: 'system',
        scopes: ['read', 'write', 'admin'],
        credentialId: undefined,
      },
      email,
    );
    const token = new URL(link).hash.replace('#token=', '');
    registerTestSecret('reset-token', token);
    return token;
  }

  it('answers 202 whether or not the account exists', async () => {
    const user = await createUser(t);
    for (const email of [user.email, uniqueEmail('nobody')]) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/auth/password-reset/request',
        payload: { email },
      });
      expect(response.statusCode).toBe(202);
      expect(response.json()).toEqual({ status: 'accepted' });
    }
  });

  it('sets a new password with a single-use token and signs out every session', async () => {
    const user = await createUser(t);
    const session = await signIn(t, user);
    const token = await resetToken(user.email);
    const stored = await t.platform.database.db
      .selectFrom('auth_token')
      .select('token_hash')
      .execute();
    expect(JSON.stringify(stored)).not.toContain(token);

    const next = newPassword();
    const confirm = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password-reset/confirm',
      payload: { token, newPassword: next },
    });
    expect(confirm.statusCode).toBe(204);
    expect((await me(t, session.headers)).statusCode).toBe(401);
    expect((await login(t, user.email, user.password)).statusCode).toBe(401);
    sessionOf(await login(t, user.email, next), user);

    const reuse = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password-reset/confirm',
      payload: { token, newPassword: newPassword() },
    });
    expect(reuse.statusCode).toBe(400);
    expect(reuse.json().error.details.issues[0].path).toBe('body.token');
  });

  it('refuses an expired token and a superseded one', async () => {
    const user = await createUser(t);
    const first = await resetToken(user.email);
    const second = await resetToken(user.email);
    const superseded = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password-reset/confirm',
      payload: { token: first, newPassword: newPassword() },
    });
    expect(superseded.statusCode).toBe(400);
    await t.platform.database.db
      .updateTable('auth_token')
      .set({ expires_at: new Date(Date.now() - 1) })
      .where('user_id', '=', user.id)
      .execute();
    const expired = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password-reset/confirm',
      payload: { token: second, newPassword: newPassword() },
    });
    expect(expired.statusCode).toBe(400);
    expect((await login(t, user.email, user.password)).statusCode).toBe(200);
  });
});

describe('two-factor sign-in', () => {
  // The app's clock stands still in the middle of a 30 s step: a code computed here is checked
  // in the same step however slowly the test runs (on the wall clock, a step that ended between
  // the two failed the check now and then).
  const clockMs = Math.floor(Date.now() / 30_000) * 30_000 + 15_000;
  const t = testAppPerSuite({
    features: { ...fast, now: () => new Date(clockMs) },
    config: { login: { maxFailures: 5, ipMaxFailures: 500, lockoutMs: 60_000, delayMs: 0 } },
  });

  // Codes for "now" and for the steps around it, so each use is a fresh step.
  const codeAt = (secret: string, offsetSteps = 0) =>
    totp(base32Decode(secret), clockMs / 1000 + offsetSteps * 30);

  async function enroll(
    session: TestSession,
  ): Promise<{ secret: string; recoveryCodes: string[] }> {
    const setup = await call(t, 'POST', '/api/auth/mfa/setup', session.headers);
    expect(setup.statusCode).toBe(200);
    const { secret, otpauthUri } = setup.json();
    registerTestSecret('totp-secret', secret);
    expect(otpauthUri).toContain(`secret=${secret}`);
    const stored = await t.platform.database.db
      .selectFrom('app_user')
      .select(['mfa_pending_secret', 'mfa_secret'])
      .where('id', '=', session.user.id)
      .executeTakeFirstOrThrow();
    expect(stored.mfa_pending_secret).toMatch(/^v1:[0-9a-f]{16}:/);
    expect(stored.mfa_pending_secret).not.toContain(secret);

    const wrong = await call(t, 'POST', '/api/auth/mfa/enable', session.headers, {
      code: '000000' === codeAt(secret) ? '111111' : '000000',
    });
    expect(wrong.statusCode).toBe(400);
    const enabled = await call(t, 'POST', '/api/auth/mfa/enable', session.headers, {
      code: codeAt(secret, -1),
    });
    expect(enabled.statusCode).toBe(200);
    const { recoveryCodes } = enabled.json() as { recoveryCodes: string[] };
    for (const code of recoveryCodes) registerTestSecret('recovery-code', code);
    expect(recoveryCodes).toHaveLength(10);
    expect(recoveryCodes[0]).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    return { secret, recoveryCodes };
  }

  async function startLogin(user: TestUser): Promise<string> {
    const response = await login(t, user.email, user.password);
    expect(response.statusCode).toBe(200);
    expect(response.cookies).toEqual([]);
    const body = response.json();
    expect(body.status).toBe('mfa-required');
    registerTestSecret('mfa-challenge', body.challengeToken);
    return body.challengeToken;
  }

  const finish = (challengeToken: string, code: string) =>
    t.app.inject({ method: 'POST', url: '/api/auth/login/mfa', payload: { challengeToken, code } });

  it('asks for a code once enabled; a code works once; a recovery code works once', async () => {
    const session = await createSignedInUser(t);
    const { secret, recoveryCodes } = await enroll(session);
    expect((await me(t, session.headers)).json().user.mfaEnabled).toBe(true);

    const challenge = await startLogin(session.user);
    const code = codeAt(secret);
    const done = await finish(challenge, code);
    expect(done.statusCode).toBe(200);
    sessionOf(done, session.user);
    expect((await finish(challenge, code)).statusCode).toBe(401); // challenge used

    // The same code again in a new sign-in: a replay.
    expect((await finish(await startLogin(session.user), code)).statusCode).toBe(401);

    const recovery = recoveryCodes[0]!.toUpperCase().replaceAll('-', ' ');
    const withRecovery = await finish(await startLogin(session.user), recovery);
    expect(withRecovery.statusCode).toBe(200);
    sessionOf(withRecovery, session.user);
    expect((await finish(await startLogin(session.user), recoveryCodes[0]!)).statusCode).toBe(401);
  });

  it('counts wrong codes toward the account lockout', async () => {
    const session = await createSignedInUser(t);
    const { secret } = await enroll(session);
    const challenge = await startLogin(session.user);
    for (let attempt = 0; attempt < 5; attempt++) {
      expect((await finish(challenge, '12345x'.replace('x', String(attempt)))).statusCode).toBe(
        401,
      );
    }
    expect((await login(t, session.user.email, session.user.password)).statusCode).toBe(429);
    expect((await finish(challenge, codeAt(secret, 1))).statusCode).toBe(401);
  });

  it('turns off only with the password and a code', async () => {
    const session = await createSignedInUser(t);
    const { secret } = await enroll(session);
    const noPassword = await call(t, 'POST', '/api/auth/mfa/disable', session.headers, {
      password: 'wrong password',
      code: codeAt(secret, 1),
    });
    expect(noPassword.statusCode).toBe(400);
    expect(noPassword.json().error.details.issues[0].path).toBe('body.password');
    const off = await call(t, 'POST', '/api/auth/mfa/disable', session.headers, {
      password: session.user.password,
      code: codeAt(secret, 1),
    });
    expect(off.statusCode).toBe(204);
    const response = await login(t, session.user.email, session.user.password);
    expect(response.json().status).toBe('signed-in');
    sessionOf(response, session.user);
  });
});

describe('API keys', () => {
  const t = testAppPerSuite({ features: fast });

  it('shows a key once, lists it without the key, and authenticates with it', async () => {
    const session = await createSignedInUser(t);
    const created = await call(t, 'POST', '/api/auth/api-keys', session.headers, {
      name: 'CI',
      scopes: ['write'],
    });
    expect(created.statusCode).toBe(201);
    const { key, id, prefix } = created.json();
    registerTestSecret('api-key', key);
    expect(key).toMatch(/^bc_[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(prefix)).toBe(true);

    const list = await call(t, 'GET', '/api/auth/api-keys', session.headers);
    expect(list.json().items).toEqual([
      expect.objectContaining({ id, name: 'CI', prefix, scopes: ['write'], lastUsedAt: null }),
    ]);
    expect(list.body).not.toContain(key);
    const stored = await t.platform.database.db.selectFrom('api_key').selectAll().execute();
    expect(JSON.stringify(stored)).not.toContain(key);

    const who = await me(t, { authorization: `Bearer ${key}` });
    expect(who.json()).toMatchObject({
      via: 'api-key',
      scopes: ['read', 'write'],
      csrfToken: null,
    });
    // No CSRF token needed with a key.
    const write = await createProject(t, { authorization: `Bearer ${key}` }, 'from CI');
    expect(write.statusCode).toBe(201);
    const after = await call(t, 'GET', '/api/auth/api-keys', session.headers);
    expect(after.json().items[0].lastUsedAt).not.toBeNull();
  });

  it('stops working once revoked or expired', async () => {
    const session = await createSignedInUser(t);
    const key = await createApiKey(t, session);
    expect((await me(t, key.headers)).statusCode).toBe(200);
    const revoke = await call(t, 'DELETE', `/api/auth/api-keys/${key.id}`, session.headers);
    expect(revoke.statusCode).toBe(204);
    expect((await me(t, key.headers)).statusCode).toBe(401);

    const soon = await createApiKey(t, session, {
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    });
    expect((await me(t, soon.headers)).statusCode).toBe(200);
    await t.platform.database.db
      .updateTable('api_key')
      .set({ expires_at: new Date(Date.now() - 1) })
      .where('id', '=', soon.id)
      .execute();
    expect((await me(t, soon.headers)).statusCode).toBe(401);
  });

  it('cannot mint keys, change the password or see sessions (a leaked key stays contained)', async () => {
    const session = await createSignedInUser(t);
    const key = await createApiKey(t, session, { scopes: ['admin'] });
    for (const [method, url, payload] of [
      ['POST', '/api/auth/api-keys', { name: 'more', scopes: ['admin'] }],
      ['GET', '/api/auth/api-keys', undefined],
      ['GET', '/api/auth/sessions', undefined],
      ['POST', '/api/auth/password', { currentPassword: 'x', newPassword: 'y'.repeat(12) }],
      ['POST', '/api/auth/mfa/setup', undefined],
    ] as const) {
      const response = await t.app.inject({
        method,
        url,
        headers: key.headers,
        ...(payload ? { payload } : {}),
      });
      expect(response.statusCode, `${method} ${url}`).toBe(403);
    }
  });

  it("refuses a past expiry and another user's key id", async () => {
    const session = await createSignedInUser(t);
    const past = await call(t, 'POST', '/api/auth/api-keys', session.headers, {
      name: 'old',
      scopes: ['read'],
      expiresAt: '2001-01-01T00:00:00Z',
    });
    expect(past.statusCode).toBe(400);
    expect(past.json().error.details.issues[0].path).toBe('body.expiresAt');
    const other = await createApiKey(t, await createSignedInUser(t));
    const response = await call(t, 'DELETE', `/api/auth/api-keys/${other.id}`, session.headers);
    expect(response.statusCode).toBe(404);
    expect((await me(t, other.headers)).statusCode).toBe(200);
  });
});

describe('accounts (instance admins)', () => {
  const t = testAppPerSuite({ features: fast });
  let admin: TestSession;
  beforeAll(async () => {
    admin = await createSignedInUser(t, { isAdmin: true });
  });

  it('only admins list and create accounts; duplicates are a clean 409', async () => {
    const member = await createSignedInUser(t);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/users', headers: member.headers }))
        .statusCode,
    ).toBe(403);
    const email = uniqueEmail('new');
    const password = newPassword();
    const create = () => call(t, 'POST', '/api/users', admin.headers, { email, password });
    const created = await create();
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ email, isAdmin: false });
    const duplicate = await create();
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.body).not.toMatch(/duplicate key|app_user|constraint/i);
    const list = await call(t, 'GET', '/api/users?limit=200', admin.headers);
    expect(list.json().items.map((u: { email: string }) => u.email)).toContain(email);
    expect(list.body).not.toMatch(/password|hash|mfa_secret/i);
  });

  it('disabling a user ends their sessions and keys', async () => {
    const victim = await createSignedInUser(t);
    const key = await createApiKey(t, victim);
    const response = await call(t, 'PATCH', `/api/users/${victim.user.id}`, admin.headers, {
      disabled: true,
    });
    expect(response.json().disabled).toBe(true);
    expect((await me(t, victim.headers)).statusCode).toBe(401);
    expect((await me(t, key.headers)).statusCode).toBe(401);
    expect((await login(t, victim.user.email, victim.user.password)).statusCode).toBe(401);
  });

  it('writes every mutation to the audit log, with secrets blanked', async () => {
    const response = await call(t, 'GET', '/api/audit?limit=200', admin.headers);
    expect(response.statusCode).toBe(200);
    const actions = new Set(response.json().items.map((e: { action: string }) => e.action));
    for (const action of ['user.create', 'user.update', 'session.create', 'api-key.create']) {
      expect(actions.has(action), action).toBe(true);
    }
    const rows = await sql<{
      summary: string;
    }>`select summary::text as summary from audit_log`.execute(t.platform.database.db);
    expect(rows.rows.some((row) => row.summary.includes('password'))).toBe(false);
  });
});
