import { randomBytes } from 'node:crypto';
import type { Actor, ApiKeyScope } from '../src/access/actor.ts';
import type { ProjectRole } from '../src/access/project-access.ts';
import { apiKeyActor } from '../src/auth/api-key-service.ts';
import { SESSION_COOKIE } from '../src/auth/auth-plugin.ts';
import { hashPassword } from '../src/auth/password-hash.ts';
import { insertUser } from '../src/auth/user-store.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { registerTestSecret } from './leak-scan.ts';
import type { TestApp } from './test-platform.ts';

/**
 * Test data for any feature: users, signed-in sessions, API keys, projects with members.
 * Everything goes through the real stores and services of `t.app.services`, and every
 * secret made here is registered for the whole-run log scan (test/leak-scan.ts).
 *
 *   const t = await createTestApp();
 *   const { project, owner, editor, viewer, outsider } = await createProjectWithMembers(t);
 *   const response = await t.app.inject({ method: 'POST', url, headers: owner.headers, payload });
 *   await t.app.services.access.requireRole(viewer.actor, project.id, 'viewer');
 */

export interface TestUser {
  id: string;
  email: string;
  password: string;
  isAdmin: boolean;
}

export interface TestSession {
  user: TestUser;
  /** As services see this session's requests. */
  actor: Actor;
  sessionId: string;
  /** The cookie value (a secret). */
  token: string;
  csrfToken: string;
  /** Cookie + CSRF header: enough for any request, reads and writes. */
  headers: { cookie: string; 'x-csrf-token': string };
}

export interface TestApiKey {
  id: string;
  key: string;
  scopes: ApiKeyScope[];
  actor: Actor;
  headers: { authorization: string };
}

// Factory users hash cheaply (the stored hash names its parameters, so sign-in still works).
// Apps built with `features: { passwordHash: FAST_PASSWORD_HASH }` hash (and rehash) alike.
export const FAST_PASSWORD_HASH = { log2N: 10, r: 8, p: 1 };
let counter = 0;

export function uniqueEmail(label = 'user'): string {
  counter += 1;
  return `${label}-${counter}-${randomBytes(4).toString('hex')}@example.test`;
}

export function newPassword(): string {
  const password = `pw-${randomBytes(18).toString('base64url')}`;
  registerTestSecret('password', password);
  return password;
}

export async function createUser(
  t: TestApp,
  options: { email?: string; password?: string; isAdmin?: boolean; displayName?: string } = {},
): Promise<TestUser> {
  const password = options.password ?? newPassword();
  registerTestSecret('password', password);
  const user = await insertUser(t.platform.database.db, {
    id: uuidv7(),
    email: (options.email ?? uniqueEmail()).toLowerCase(),
    display_name: options.displayName ?? '',
    password_hash: await hashPassword(password, FAST_PASSWORD_HASH),
    is_admin: options.isAdmin ?? false,
    now: new Date(),
  });
  return { id: user.id, email: user.email, password, isAdmin: user.is_admin };
}

/** A session for the user, made by the session service (no HTTP, no rate limit). */
export async function signIn(t: TestApp, user: TestUser): Promise<TestSession> {
  const db = t.platform.database.db;
  const row = await db
    .selectFrom('app_user')
    .selectAll()
    .where('id', '=', user.id)
    .executeTakeFirstOrThrow();
  const started = await db
    .transaction()
    .execute((trx) =>
      t.app.services.sessions.start(trx, row, { ip: '127.0.0.1', userAgent: 'factory' }),
    );
  return sessionFrom(user, started.token, started.csrfToken, started.session.id);
}

/** Wraps a session token and CSRF token (e.g. from a real /api/auth/login) and registers them. */
export function sessionFrom(
  user: TestUser,
  token: string,
  csrfToken: string,
  sessionId: string,
): TestSession {
  registerTestSecret('session-id', token);
  registerTestSecret('csrf-token', csrfToken);
  return {
    user,
    actor: {
      userId: user.id,
      isAdmin: user.isAdmin,
      via: 'session',
      scopes: ['read', 'write', 'admin'],
      credentialId: sessionId,
    },
    sessionId,
    token,
    csrfToken,
    headers: { cookie: `${SESSION_COOKIE}=${token}`, 'x-csrf-token': csrfToken },
  };
}

export async function createSignedInUser(
  t: TestApp,
  options: Parameters<typeof createUser>[1] = {},
): Promise<TestSession> {
  return signIn(t, await createUser(t, options));
}

/** Cookie only, no CSRF header: for reads, or to prove a write is refused without it. */
export function cookieOnly(session: TestSession): { cookie: string } {
  return { cookie: session.headers.cookie };
}

export async function createApiKey(
  t: TestApp,
  session: TestSession,
  options: { scopes?: ApiKeyScope[]; name?: string; expiresAt?: string } = {},
): Promise<TestApiKey> {
  const scopes = options.scopes ?? ['read', 'write'];
  const { apiKey, key } = await t.app.services.apiKeys.create(session.actor, {
    name: options.name ?? 'test key',
    scopes,
    ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}),
  });
  registerTestSecret('api-key', key);
  const db = t.platform.database.db;
  const user = await db
    .selectFrom('app_user')
    .selectAll()
    .where('id', '=', session.user.id)
    .executeTakeFirstOrThrow();
  return {
    id: apiKey.id,
    key,
    scopes,
    actor: apiKeyActor(user, apiKey),
    headers: { authorization: `Bearer ${key}` },
  };
}

export interface TestProject {
  id: string;
  name: string;
}

export async function createProject(
  t: TestApp,
  owner: TestSession,
  options: { name?: string } = {},
): Promise<TestProject> {
  const project = await t.app.services.projects.createProject(owner.actor, {
    name: options.name ?? `Project ${++counter}`,
    description: '',
  });
  return { id: project.id, name: project.name };
}

export async function addMember(
  t: TestApp,
  project: TestProject,
  owner: TestSession,
  member: TestSession,
  role: ProjectRole,
): Promise<void> {
  await t.app.services.projects.addMember(owner.actor, project.id, {
    email: member.user.email,
    role,
  });
}

export interface ProjectWithMembers {
  project: TestProject;
  owner: TestSession;
  editor: TestSession;
  viewer: TestSession;
  /** Signed in, but not a member: everything of the project must answer 404 to them. */
  outsider: TestSession;
}

/** A project with one user per role and one outsider, all signed in. */
export async function createProjectWithMembers(
  t: TestApp,
  options: { name?: string } = {},
): Promise<ProjectWithMembers> {
  const [owner, editor, viewer, outsider] = await Promise.all([
    createSignedInUser(t, { email: uniqueEmail('owner') }),
    createSignedInUser(t, { email: uniqueEmail('editor') }),
    createSignedInUser(t, { email: uniqueEmail('viewer') }),
    createSignedInUser(t, { email: uniqueEmail('outsider') }),
  ]);
  const project = await createProject(t, owner, options);
  await addMember(t, project, owner, editor, 'editor');
  await addMember(t, project, owner, viewer, 'viewer');
  return { project, owner, editor, viewer, outsider };
}
