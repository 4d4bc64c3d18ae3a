import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  createSignedInUser,
  createUser,
  newPassword,
  signIn,
  uniqueEmail,
} from '../../test/factories.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { testAppPerSuite } from '../../test/per-suite.ts';
import { createTestApp } from '../../test/test-platform.ts';
import { call, createProject, fast, login, me, sessionOf } from './auth-routes-test-helpers.ts';

// Setting up, signing in, sessions, CSRF and the sign-in slowdown; password reset, two-factor
// sign-in, API keys and accounts are in auth-accounts.test.ts (two files, so that two workers
// share the time).

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
