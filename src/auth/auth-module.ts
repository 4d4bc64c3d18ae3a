import type { Kysely } from 'kysely';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { DB } from '../migrations/db-schema.ts';
import type { Config } from '../platform/config.ts';
import type { SecretBox } from '../platform/crypto.ts';
import { forwardingKey } from '../platform/datasets/dataset-forwarding.ts';
import type { AppInstance } from '../platform/http/app-instance.ts';
import { installRateLimit } from '../platform/http/rate-limit.ts';
import { installSecurityHeaders } from '../platform/http/security-headers.ts';
import type { Logger } from '../platform/logger.ts';
import { createSmtpMailer, type Mailer } from '../platform/mailer.ts';
import { accountRoutes } from './account-routes.ts';
import { type ApiKeyService, createApiKeyService } from './api-key-service.ts';
import { type AuthSettings, installAuth, isLoopbackHost } from './auth-plugin.ts';
import { authRoutes } from './auth-routes.ts';
import { type AuthService, createAuthService } from './auth-service.ts';
import { createLoginThrottle } from './login-throttle.ts';
import { createMfaService, type MfaService } from './mfa-service.ts';
import { createPasswordHasher, type PasswordHashParameters } from './password-hash.ts';
import { createSessionService, type SessionService } from './session-service.ts';
import { userRoutes } from './user-routes.ts';
import { createUserService, type UserService } from './user-service.ts';

export interface AuthModuleDeps {
  config: Config;
  logger: Logger;
  db: Kysely<DB>;
  audit: AuditRecorder;
  /** Seals TOTP secrets at rest. */
  secrets: SecretBox;
  now: () => Date;
  /** Default: SMTP from the config, or none (reset links are logged for the admin). */
  mailer?: Mailer | undefined;
  /** How the sign-in slowdown waits; tests record the delays instead. Default: a timer. */
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** scrypt parameters of new hashes; default PASSWORD_HASH_PARAMETERS (tests pass cheaper ones). */
  passwordHash?: PasswordHashParameters | undefined;
}

export interface AuthModule {
  users: UserService;
  sessions: SessionService;
  apiKeys: ApiKeyService;
  mfa: MfaService;
  auth: AuthService;
  mailer: Mailer | undefined;
}

/** The URL people reach this server at: BRAINCELLS_PUBLIC_URL, or the address it listens on. */
export function publicUrlOf(config: Config): string {
  if (config.publicUrl) return config.publicUrl;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${config.port}`;
}

/** Wires accounts: sign-in throttle, sessions, API keys, MFA, users, and the sign-in flows. */
export function createAuthModule(deps: AuthModuleDeps): AuthModule {
  const { config, logger, db, audit, now } = deps;
  const mailer = deps.mailer ?? createSmtpMailer(config.smtp);
  const throttle = createLoginThrottle({
    db,
    settings: config.login,
    now,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  });
  const sessions = createSessionService({ db, audit, settings: config.session, now });
  const apiKeys = createApiKeyService({ db, audit, now });
  const passwords = createPasswordHasher(deps.passwordHash);
  const mfa = createMfaService({ db, audit, box: deps.secrets, throttle, passwords, now });
  const users = createUserService({ db, audit, sessions, passwords, now });
  const auth = createAuthService({
    db,
    audit,
    sessions,
    throttle,
    mfa,
    passwords,
    mailer,
    logger,
    publicUrl: publicUrlOf(config),
    now,
  });
  return { users, sessions, apiKeys, mfa, auth, mailer };
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
  accounts: AuthModule,
): Promise<void> {
  // Order matters: each attaches hooks to routes as they are added, the rate limit first
  // (so floods of bad credentials are counted), then authentication; CORS adds a route.
  const rateLimiter = await installRateLimit(app, config.rateLimit, logger);
  await installAuth(app, {
    sessions: accounts.sessions,
    apiKeys: accounts.apiKeys,
    rateLimiter,
    settings: authSettings(config),
    forwardingKey: config.secret.current ? forwardingKey(config.secret.current) : undefined,
  });
  await installSecurityHeaders(app, {
    corsOrigins: config.corsOrigins,
    remoteImages: config.remoteImages,
    secure: config.secureCookies || config.publicUrl?.startsWith('https:') === true,
  });
  // First run: say how to create the first admin (the token works from other machines).
  app.addHook('onListen', async () => {
    const token = await accounts.auth.issueSetupToken();
    if (!token) return;
    logger.warn(
      { setupUrl: `${publicUrlOf(config)}/setup#setup-token=${token}` },
      'No account exists yet. Create the first admin at setupUrl (from this machine no token is needed), or run `braincells user create --email <you> --admin`',
    );
  });
}

/** The routes of sign-in, the signed-in account and user administration. */
export async function registerAuthRoutes(
  app: AppInstance,
  config: Config,
  accounts: AuthModule,
): Promise<void> {
  await app.register(authRoutes, {
    auth: accounts.auth,
    sessions: accounts.sessions,
    users: accounts.users,
    settings: authSettings(config),
    authRateLimit: config.rateLimit.auth,
  });
  await app.register(accountRoutes, {
    auth: accounts.auth,
    sessions: accounts.sessions,
    mfa: accounts.mfa,
    apiKeys: accounts.apiKeys,
  });
  await app.register(userRoutes, { users: accounts.users });
}
