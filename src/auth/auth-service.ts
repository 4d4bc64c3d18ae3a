import type { Actor } from '../access/actor.ts';
import type { AuthDeps } from './auth-context.ts';
import { createPasswordUseCases } from './auth-password.ts';
import { createSetupUseCases } from './auth-setup.ts';
import { createSignInUseCases } from './auth-sign-in.ts';
import type { ClientInfo, StartedSession } from './session-service.ts';

export type LoginResult =
  | ({ status: 'signed-in' } & StartedSession)
  | { status: 'mfa-required'; challengeToken: string };

export interface SetupInput {
  email: string;
  password: string;
  displayName: string;
  setupToken?: string | undefined;
}

export interface AuthService {
  setupNeeded(): Promise<boolean>;
  /**
   * A one-time token for creating the first admin from another machine, or undefined once
   * an account exists. The server logs it at start-up.
   */
  issueSetupToken(): Promise<string | undefined>;
  /** First run: creates the first admin and signs them in. */
  setup(input: SetupInput, client: ClientInfo & { loopback: boolean }): Promise<StartedSession>;
  login(input: { email: string; password: string }, client: ClientInfo): Promise<LoginResult>;
  completeMfaLogin(
    input: { challengeToken: string; code: string },
    client: ClientInfo,
  ): Promise<StartedSession>;
  /** Signs out everywhere else; the current session stays. */
  changePassword(
    actor: Actor,
    input: { currentPassword: string; newPassword: string },
  ): Promise<{ revokedSessions: number }>;
  /** Always succeeds (no account probing); mails a link when SMTP is configured. */
  requestPasswordReset(email: string): Promise<void>;
  /** For `braincells user reset-link`: a reset link for an existing account. */
  createResetLink(actor: Actor, email: string): Promise<{ link: string; expiresAt: Date }>;
  resetPassword(input: { token: string; newPassword: string }): Promise<void>;
}

/** Accounts' way in: first-run setup, sign-in (with MFA), password change and reset. */
export function createAuthService(deps: AuthDeps): AuthService {
  return {
    ...createSetupUseCases(deps),
    ...createSignInUseCases(deps),
    ...createPasswordUseCases(deps),
  };
}
