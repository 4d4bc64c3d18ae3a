import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createApiKey,
  createSignedInUser,
  createUser,
  FAST_PASSWORD_HASH,
  newPassword,
  sessionFrom,
  signIn,
  type TestSession,
  type TestUser,
  uniqueEmail,
} from '../../test/factories.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { testAppPerSuite } from '../../test/per-suite.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import { base32Decode, totp } from './totp.ts';

// Hashing cost is not what these tests are about (src/auth/password-hash.test.ts covers the
// server's parameters): the app hashes with the factory users' cheap parameters.
const fast = { passwordHash: FAST_PASSWORD_HASH };

/** The session a real sign-in response set, registered for the log scan. */
function sessionOf(response: LightMyRequestResponse, user: TestUser): TestSession {
  const cookie = response.cookies.find((c) => c.name === 'bc_session');
  if (!cookie) throw new Error(`no session cookie in ${response.statusCode} ${response.body}`);
  const body = response.json();
  return sessionFrom(user, cookie.value, body.csrfToken, 'unknown');
}

async function login(
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
const createProject = (t: TestApp, headers: Record<string, string | undefined>, name: string) =>
  t.app.inject({ method: 'POST', url: '/api/projects', headers, payload: { name } });

/** One request as a signed-in client sends it. */
const call = (
  t: TestApp,
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH' | 'PUT',
  url: string,
  headers: Record<string, string>,
  payload?: object,
) => t.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });

const me = (t: TestApp, headers: Record<string, string>) =>
  t.app.inject({ method: 'GET', url: '/api/auth/me', headers });

describe('first-run setup', () => {
  const t = testAppPerSuite({ features: fast });

  it('refuses another machine without the setup token, and a proxied request too', async () => {
    const payload = { email: 'root@example.com', password: newPassword() };
    for (const request of [
      { remoteAddress: '10.1.2.3' },
      { remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' } },
    ]) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/auth/setup',
        payload,
        ...request,
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().error.code).toBe('FORBIDDEN');
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/setup' })).json()).toEqual({
      needed: true,
    });
  });

  it('refuses a wrong setup token, naming the field', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      remoteAddress: '10.1.2.3',
      payload: { email: 'root@example.com', password: newPassword(), setupToken: 'nope' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.issues[0].path).toBe('body.setupToken');
  });

  it('refuses a short password, naming the field, and writes nothing', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'root@example.com', password: 'short' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.issues.map((i: { path: string }) => i.path)).toEqual([
      'body.password',
    ]);
    const { count } = await t.platform.database.db
      .selectFrom('app_user')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    expect(Number(count)).toBe(0);
  });

  it('accepts the one-time token printed at start-up from another machine, then closes', async () => {
    const token = (await t.app.services.auth.issueSetupToken())!;
    registerTestSecret('setup-token', token);
    const password = newPassword();
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      remoteAddress: '10.1.2.3',
      payload: { email: 'Root@Example.com', password, displayName: 'Root', setupToken: token },
    });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body.user).toMatchObject({
      email: 'root@example.com',
      isAdmin: true,
      displayName: 'Root',
    });
    const user = { id: body.user.id, email: 'root@example.com', password, isAdmin: true };
    expect((await me(t, sessionOf(response, user).headers)).statusCode).toBe(200);

    expect((await t.app.inject({ method: 'GET', url: '/api/auth/setup' })).json()).toEqual({
      needed: false,
    });
    const again = await t.app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'second@example.com', password: newPassword() },
    });
    expect(again.statusCode).toBe(409);
    expect(await t.app.services.auth.issueSetupToken()).toBeUndefined();
  });
});

describe('first-run setup from this machine', () => {
  const t = testAppPerSuite({ features: fast });

  it('needs no token on loopback and signs the admin in', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/auth/setup',
      payload: { email: 'admin@example.com', password: newPassword() },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json().user.isAdmin).toBe(true);
    const entries = await t.platform.database.db.selectFrom('audit_log').select('action').execute();
    expect(entries.map((e) => e.action)).toEqual(['user.create', 'session.create']);
  });

  // (accounts) Here the admin set up above is the only one.
  it('keeps at least one enabled admin', async () => {
    const row = await t.platform.database.db
      .selectFrom('app_user')
      .select(['id', 'email'])
      .where('is_admin', '=', true)
      .executeTakeFirstOrThrow();
    const only = await signIn(t, { ...row, password: '', isAdmin: true });
    const response = await call(t, 'PATCH', `/api/users/${only.user.id}`, only.headers, {
      isAdmin: false,
    });
    expect(response.statusCode).toBe(409);
  });
});

describe('sign-in, sessions and CSRF', () => {
  const t = testAppPerSuite({
    features: fast,
    config: { login: { maxFailures: 50, ipMaxFailures: 500, lockoutMs: 60_000, delayMs: 0 } },
  });

  it('sets an HttpOnly, SameSite=Strict session cookie holding a 256-bit id, stored only hashed', async () => {
    const user = await createUser(t);
    const response = await login(t, user.email.toUpperCase(), user.password);
    expect(response.statusCode).toBe(200);
    const cookie = response.cookies.find((c) => c.name === 'bc_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie.secure).toBeUndefined(); // plain HTTP, secure cookies not forced
    expect(cookie.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const session = sessionOf(response, user);
    const rows = await t.platform.database.db.selectFrom('user_session').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(session.token);
    expect(response.json()).toMatchObject({ status: 'signed-in', user: { email: user.email } });
    expect(response.body).not.toContain(session.token);
  });

  it('answers a wrong password and an unknown account the same way', async () => {
    const user = await createUser(t);
    const wrong = await login(t, user.email, `${user.password}x`);
    const unknown = await login(t, uniqueEmail('ghost'), 'whatever password 1');
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    const strip = (r: LightMyRequestResponse) => ({ ...r.json().error, requestId: undefined });
    expect(strip(wrong)).toEqual(strip(unknown));
    expect(wrong.cookies).toEqual([]);
  });

  it('tells who is signed in, with the CSRF token, and signs out', async () => {
    const user = await createUser(t, { displayName: 'Ada' });
    const session = sessionOf(await login(t, user.email, user.password), user);
    const who = await me(t, { cookie: session.headers.cookie });
    expect(who.json()).toMatchObject({
      user: { email: user.email, displayName: 'Ada', isAdmin: false, mfaEnabled: false },
      via: 'session',
      csrfToken: session.csrfToken,
    });
    expect(who.body).not.toMatch(/password|hash/i);
    const out = await call(t, 'POST', '/api/auth/logout', session.headers);
    expect(out.statusCode).toBe(204);
    expect(out.cookies.find((c) => c.name === 'bc_session')?.value).toBe('');
    expect((await me(t, session.headers)).statusCode).toBe(401);
  });

  it('refuses a state change without the CSRF token or with a wrong one (403), and writes nothing', async () => {
    const session = await createSignedInUser(t);
    const attempts = [
      { cookie: session.headers.cookie },
      { cookie: session.headers.cookie, 'x-csrf-token': 'forged' },
      { cookie: session.headers.cookie, 'x-csrf-token': (await createSignedInUser(t)).csrfToken },
    ];
    for (const headers of attempts) {
      const response = await createProject(t, headers, 'CSRF');
      expect(response.statusCode).toBe(403);
      expect(response.json().error).toMatchObject({
        code: 'FORBIDDEN',
        details: { reason: 'csrf' },
      });
    }
    const ok = await createProject(t, session.headers, 'CSRF');
    expect(ok.statusCode).toBe(201);
    const projects = await t.platform.database.db
      .selectFrom('project')
      .select('name')
      .where('name', '=', 'CSRF')
      .execute();
    expect(projects).toHaveLength(1);
  });

  it('refuses a state change from a foreign browser origin even with the token', async () => {
    const session = await createSignedInUser(t);
    const response = await createProject(
      t,
      { ...session.headers, origin: 'https://evil.example' },
      'x',
    );
    expect(response.statusCode).toBe(403);
    expect(response.json().error.details.reason).toBe('origin');
    const login = await call(
      t,
      'POST',
      '/api/auth/login',
      { origin: 'https://evil.example' },
      { email: session.user.email, password: session.user.password },
    );
    expect(login.statusCode).toBe(403);
  });

  it('takes localhost, 127.0.0.1 and [::1] on the same port as one origin when bound to loopback', async () => {
    expect(t.platform.config.host).toBe('127.0.0.1');
    const session = await createSignedInUser(t);
    const create = (host: string, origin: string) =>
      createProject(t, { ...session.headers, host, origin }, 'Loopback');
    // The UI opened at http://localhost:3000 while the server binds 127.0.0.1, and back.
    expect((await create('127.0.0.1:3000', 'http://localhost:3000')).statusCode).toBe(201);
    expect((await create('localhost:3000', 'http://127.0.0.1:3000')).statusCode).toBe(201);
    expect((await create('127.0.0.1:3000', 'http://[::1]:3000')).statusCode).toBe(201);
    // Another port, scheme or name is another origin.
    for (const [host, origin] of [
      ['127.0.0.1:3000', 'http://localhost:3001'],
      ['127.0.0.1:3000', 'https://localhost:3000'],
      ['127.0.0.1:3000', 'http://localhost.evil.example:3000'],
      ['127.0.0.1:3000', 'http://192.168.1.2:3000'],
      ['app.example:3000', 'http://localhost:3000'],
    ] as const) {
      const refused = await create(host, origin);
      expect(refused.statusCode, `${host} ${origin}`).toBe(403);
      expect(refused.json().error.details.reason).toBe('origin');
    }
  });

  it('keeps loopback spellings apart when the server listens beyond loopback', async () => {
    const wide = await createTestApp({ features: fast, config: { host: '0.0.0.0' } });
    try {
      const session = await createSignedInUser(wide);
      const refused = await createProject(
        wide,
        { ...session.headers, host: '127.0.0.1:3000', origin: 'http://localhost:3000' },
        'Wide',
      );
      expect(refused.statusCode).toBe(403);
      const same = await createProject(
        wide,
        { ...session.headers, host: 'localhost:3000', origin: 'http://localhost:3000' },
        'Wide',
      );
      expect(same.statusCode).toBe(201);
    } finally {
      await wide.close();
    }
  });

  it('ends a session after the idle timeout', async () => {
    const session = await createSignedInUser(t);
    expect((await me(t, session.headers)).statusCode).toBe(200);
    const idle = t.platform.config.session.idleTimeoutMs;
    await t.platform.database.db
      .updateTable('user_session')
      .set({ last_seen_at: new Date(Date.now() - idle - 1_000) })
      .where('id', '=', session.sessionId)
      .execute();
    const response = await me(t, session.headers);
    expect(response.statusCode).toBe(401);
    expect(response.json().error.code).toBe('UNAUTHENTICATED');
    expect(t.platform.logs.lines.some((line) => line.reason === 'idle')).toBe(true);
  });

  it('ends a session after the absolute timeout, however active', async () => {
    const session = await createSignedInUser(t);
    const absolute = t.platform.config.session.absoluteTimeoutMs;
    await t.platform.database.db
      .updateTable('user_session')
      .set({ created_at: new Date(Date.now() - absolute - 1_000), last_seen_at: new Date() })
      .where('id', '=', session.sessionId)
      .execute();
    expect((await me(t, session.headers)).statusCode).toBe(401);
    // And when only the stored expiry has passed.
    const other = await createSignedInUser(t);
    await t.platform.database.db
      .updateTable('user_session')
      // Created a minute ago: an expiry 1 ms back could otherwise predate the session itself
      // (check expires_at > created_at) when the test runs within a millisecond.
      .set({ created_at: new Date(Date.now() - 60_000), expires_at: new Date(Date.now() - 1_000) })
      .where('id', '=', other.sessionId)
      .execute();
    expect((await me(t, other.headers)).statusCode).toBe(401);
  });

  it('lists sessions, and a revoked session answers 401 at once', async () => {
    const user = await createUser(t);
    const laptop = await signIn(t, user);
    const phone = await signIn(t, user);
    const list = await call(t, 'GET', '/api/auth/sessions', laptop.headers);
    const items = list.json().items as { id: string; current: boolean }[];
    expect(items.map((s) => s.id).sort()).toEqual([laptop.sessionId, phone.sessionId].sort());
    expect(items.find((s) => s.current)?.id).toBe(laptop.sessionId);
    expect(list.body).not.toContain(phone.token);

    const revoke = await call(t, 'DELETE', `/api/auth/sessions/${phone.sessionId}`, laptop.headers);
    expect(revoke.statusCode).toBe(204);
    expect((await me(t, phone.headers)).statusCode).toBe(401);
    expect((await me(t, laptop.headers)).statusCode).toBe(200);

    // Another user's session is not yours to see or revoke.
    const stranger = await createSignedInUser(t);
    const steal = await call(
      t,
      'DELETE',
      `/api/auth/sessions/${laptop.sessionId}`,
      stranger.headers,
    );
    expect(steal.statusCode).toBe(404);
    expect((await me(t, laptop.headers)).statusCode).toBe(200);
  });

  it('changing the password signs out the other sessions, not this one', async () => {
    const user = await createUser(t);
    const here = await signIn(t, user);
    const there = await signIn(t, user);
    const wrong = await call(t, 'POST', '/api/auth/password', here.headers, {
      currentPassword: 'not the password',
      newPassword: newPassword(),
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.details.issues[0].path).toBe('body.currentPassword');
    expect((await me(t, there.headers)).statusCode).toBe(200);

    const next = newPassword();
    const changed = await call(t, 'POST', '/api/auth/password', here.headers, {
      currentPassword: user.password,
      newPassword: next,
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toEqual({ revokedSessions: 1 });
    expect((await me(t, there.headers)).statusCode).toBe(401);
    expect((await me(t, here.headers)).statusCode).toBe(200);
    expect((await login(t, user.email, user.password)).statusCode).toBe(401);
    expect((await login(t, user.email, next)).statusCode).toBe(200);
  });

  it('updates the display name, rejecting control characters', async () => {
    const session = await createSignedInUser(t);
    const bad = await call(t, 'PATCH', '/api/auth/me', session.headers, {
      displayName: 'a\u0007b',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.issues[0].path).toBe('body.displayName');
    const good = await call(t, 'PATCH', '/api/auth/me', session.headers, { displayName: 'Grace' });
    expect(good.json().displayName).toBe('Grace');
  });
});

describe('secure cookies', () => {
  const t = testAppPerSuite({ features: fast, config: { secureCookies: true } });

  it('marks the cookie Secure when configured (TLS terminated by a proxy)', async () => {
    const user = await createUser(t);
    const response = await login(t, user.email, user.password);
    expect(response.cookies.find((c) => c.name === 'bc_session')?.secure).toBe(true);
    sessionOf(response, user);
    expect(response.headers['strict-transport-security']).toContain('max-age=');
  });
});

describe('brute force and sign-in slowdown', () => {
  const maxFailures = 4;
  // The throttle's waits, recorded (and not slept): what a client would wait for.
  const waits: number[] = [];
  const t = testAppPerSuite({
    features: {
      ...fast,
      loginSleep: async (ms) => {
        waits.push(ms);
      },
    },
    config: { login: { maxFailures, ipMaxFailures: 6, lockoutMs: 15 * 60_000, delayMs: 150 } },
  });

  it('waits longer after each recent failure', async () => {
    const user = await createUser(t);
    const waited = async () => {
      const before = waits.length;
      expect((await login(t, user.email, 'wrong password!')).statusCode).toBe(401);
      return waits.slice(before).reduce((sum, ms) => sum + ms, 0);
    };
    expect(await waited()).toBe(0); // no failure yet: no delay
    expect(await waited()).toBe(150); // 1 failure: 150 ms
    expect(await waited()).toBe(300); // 2 failures: 300 ms
    expect(await waited()).toBe(600); // 3 failures: 600 ms
  });

  it('refuses the right password after N failures until the lockout ends', async () => {
    const user = await createUser(t);
    const ip = '198.51.100.1';
    for (let attempt = 1; attempt <= maxFailures; attempt++) {
      expect((await login(t, user.email, 'wrong password!', ip)).statusCode).toBe(401);
    }
    const locked = await login(t, user.email, user.password, ip);
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(800);
    expect(locked.cookies).toEqual([]);
    // From another address too: the lock is on the account.
    expect((await login(t, user.email, user.password, '198.51.100.2')).statusCode).toBe(429);

    // The lockout ends.
    await t.platform.database.db
      .updateTable('login_throttle')
      .set({ locked_until: new Date(Date.now() - 1) })
      .where('key', '=', `account:${user.email}`)
      .execute();
    const after = await login(t, user.email, user.password, '198.51.100.2');
    expect(after.statusCode).toBe(200);
    sessionOf(after, user);
  });

  it('locks an unknown account the same way, so lockouts do not reveal accounts', async () => {
    const ghost = uniqueEmail('ghost');
    for (let attempt = 1; attempt <= maxFailures; attempt++) {
      expect((await login(t, ghost, 'some password 1', '198.51.100.3')).statusCode).toBe(401);
    }
    expect((await login(t, ghost, 'some password 1', '198.51.100.3')).statusCode).toBe(429);
  });

  it('locks an address that guesses across many accounts', async () => {
    const ip = '198.51.100.9';
    for (let attempt = 1; attempt <= 6; attempt++) {
      expect((await login(t, uniqueEmail('spray'), 'password guess 1', ip)).statusCode).toBe(401);
    }
    const user = await createUser(t);
    expect((await login(t, user.email, user.password, ip)).statusCode).toBe(429);
    const elsewhere = await login(t, user.email, user.password, '198.51.100.10');
    expect(elsewhere.statusCode).toBe(200);
    sessionOf(elsewhere, user);
  });

  it('forgets failures after a successful sign-in', async () => {
    const user = await createUser(t);
    for (let attempt = 1; attempt < maxFailures; attempt++) {
      await login(t, user.email, 'wrong password!', '198.51.100.20');
    }
    sessionOf(await login(t, user.email, user.password, '198.51.100.20'), user);
    // (Another address: this one's own count is not reset by a success.)
    for (let attempt = 1; attempt < maxFailures; attempt++) {
      expect((await login(t, user.email, 'wrong password!', '198.51.100.21')).statusCode).toBe(401);
    }
    sessionOf(await login(t, user.email, user.password, '198.51.100.21'), user);
  });
});

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
  const t = testAppPerSuite({
    features: fast,
    config: { login: { maxFailures: 5, ipMaxFailures: 500, lockoutMs: 60_000, delayMs: 0 } },
  });

  // Codes for "now" and for the next steps, so each use is a fresh step.
  const codeAt = (secret: string, offsetSteps = 0) =>
    totp(base32Decode(secret), Date.now() / 1000 + offsetSteps * 30);

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
