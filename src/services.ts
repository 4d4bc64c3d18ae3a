import { auditRoutes } from './audit/audit-routes.ts';
import {
  type AuditRecorder,
  type AuditService,
  createAuditRecorder,
  createAuditService,
} from './audit/audit-service.ts';
import { accountRoutes } from './auth/account-routes.ts';
import { type ApiKeyService, createApiKeyService } from './auth/api-key-service.ts';
import { type AuthSettings, installAuth, isLoopbackHost } from './auth/auth-plugin.ts';
import { authRoutes } from './auth/auth-routes.ts';
import { type AuthService, createAuthService } from './auth/auth-service.ts';
import { createLoginThrottle } from './auth/login-throttle.ts';
import { createMfaService, type MfaService } from './auth/mfa-service.ts';
import { createSessionService, type SessionService } from './auth/session-service.ts';
import { userRoutes } from './auth/user-routes.ts';
import { createUserService, type UserService } from './auth/user-service.ts';
import type { Config } from './platform/config.ts';
import { loadSecretBox, type SecretBox } from './platform/crypto.ts';
import type { Database } from './platform/db/database.ts';
import type { AppInstance } from './platform/http/app-instance.ts';
import { installRateLimit } from './platform/http/rate-limit.ts';
import { installSecurityHeaders } from './platform/http/security-headers.ts';
import type { Logger } from './platform/logger.ts';
import { createSmtpMailer, type Mailer } from './platform/mailer.ts';
import type { ProjectAccess } from './projects/project-access.ts';
import { projectRoutes } from './projects/project-routes.ts';
import { createProjectService, type ProjectService } from './projects/project-service.ts';

/**
 * The services every feature builds on, made once per process (buildApp, the CLI).
 * A feature takes exactly what it needs from here, e.g.
 *   createSheetService({ db, access: services.access, audit: services.audit })
 */
export interface CoreServices {
  /** AES-256-GCM for secrets at rest (provider keys): `secrets.encrypt(value, secretContext(...))`. */
  secrets: SecretBox;
  /** Writes audit entries inside a mutation's transaction. */
  audit: AuditRecorder;
  /** Reads the audit log (owners, admins). */
  auditLog: AuditService;
  /** The access check for project-scoped use cases: `await access.requireRole(actor, projectId, 'editor')`. */
  access: ProjectAccess;
  projects: ProjectService;
  users: UserService;
  sessions: SessionService;
  apiKeys: ApiKeyService;
  mfa: MfaService;
  auth: AuthService;
  mailer: Mailer | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The core services, for features registered in buildApp and for tests. */
    readonly services: CoreServices;
  }
}

export interface CoreServiceDeps {
  config: Config;
  logger: Logger;
  database: Database;
}

export function publicUrlOf(config: Config): string {
  if (config.publicUrl) return config.publicUrl;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${config.port}`;
}

export function createCoreServices(
  deps: CoreServiceDeps,
  options: { now?: () => Date; mailer?: Mailer } = {},
): CoreServices {
  const { config, logger, database } = deps;
  const db = database.db;
  const now = options.now ?? (() => new Date());

  const { box, source } = loadSecretBox({ dataDir: config.dataDir, secret: config.secret });
  if (source === 'key-file' && config.databaseUrl) {
    logger.warn(
      'BRAINCELLS_SECRET is not set: secrets are sealed with a key file in this data dir; servers sharing this PostgreSQL need the same key, so set BRAINCELLS_SECRET',
    );
  }
  const mailer = options.mailer ?? createSmtpMailer(config.smtp);

  const audit = createAuditRecorder();
  const projects = createProjectService({ db, audit, now });
  const throttle = createLoginThrottle({ db, settings: config.login, now });
  const sessions = createSessionService({ db, audit, settings: config.session, now });
  const apiKeys = createApiKeyService({ db, audit, now });
  const mfa = createMfaService({ db, audit, box, throttle, now });
  const users = createUserService({ db, audit, sessions, now });
  const auth = createAuthService({
    db,
    audit,
    sessions,
    throttle,
    mfa,
    mailer,
    logger,
    publicUrl: publicUrlOf(config),
    now,
  });
  const auditLog = createAuditService({ db, access: projects });
  return {
    secrets: box,
    audit,
    auditLog,
    access: projects,
    projects,
    users,
    sessions,
    apiKeys,
    mfa,
    auth,
    mailer,
  };
}

function authSettings(config: Config): AuthSettings {
  const origins = [...config.corsOrigins];
  if (config.publicUrl) origins.push(new URL(config.publicUrl).origin);
  return {
    secureCookies: config.secureCookies,
    allowedOrigins: origins,
    loopbackOnly: isLoopbackHost(config.host),
  };
}

/**
 * Security headers, rate limits and authentication. Call before any route is added: every
 * route registered afterwards needs a session or API key unless it sets
 * `config: { public: true }`.
 */
export async function installSecurity(
  app: AppInstance,
  config: Config,
  logger: Logger,
  services: CoreServices,
): Promise<void> {
  app.decorate('services', services);
  // Order matters: each attaches hooks to routes as they are added, the rate limit first
  // (so floods of bad credentials are counted), then authentication; CORS adds a route.
  const rateLimiter = await installRateLimit(app, config.rateLimit, logger);
  await installAuth(app, {
    sessions: services.sessions,
    apiKeys: services.apiKeys,
    rateLimiter,
    settings: authSettings(config),
  });
  await installSecurityHeaders(app, {
    corsOrigins: config.corsOrigins,
    remoteImages: config.remoteImages,
    secure: config.secureCookies || config.publicUrl?.startsWith('https:') === true,
  });
  // First run: say how to create the first admin (the token works from other machines).
  app.addHook('onListen', async () => {
    const token = await services.auth.issueSetupToken();
    if (!token) return;
    logger.warn(
      { setupUrl: `${publicUrlOf(config)}/setup#setup-token=${token}` },
      'No account exists yet. Create the first admin at setupUrl (from this machine no token is needed), or run `braincells user create --email <you> --admin`',
    );
  });
}

/** The routes of accounts, projects and the audit log. */
export async function registerCoreRoutes(
  app: AppInstance,
  config: Config,
  services: CoreServices,
): Promise<void> {
  await app.register(authRoutes, {
    auth: services.auth,
    sessions: services.sessions,
    users: services.users,
    settings: authSettings(config),
    authRateLimit: config.rateLimit.auth,
  });
  await app.register(accountRoutes, {
    auth: services.auth,
    sessions: services.sessions,
    mfa: services.mfa,
    apiKeys: services.apiKeys,
  });
  await app.register(userRoutes, { users: services.users });
  await app.register(projectRoutes, { projects: services.projects });
  await app.register(auditRoutes, { audit: services.auditLog });
}
