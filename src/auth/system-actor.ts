import type { Actor } from '../access/actor.ts';

/** The nil UUID: the audit log records system actions with no user. */
export const SYSTEM_USER_ID = '00000000-0000-0000-0000-000000000000';

/**
 * The actor of the CLI and of jobs that act for the installation rather than a user.
 * It passes every access check; never build one from request input.
 */
export function systemActor(): Actor {
  return {
    userId: SYSTEM_USER_ID,
    isAdmin: true,
    via: 'system',
    scopes: ['read', 'write', 'admin'],
    credentialId: undefined,
  };
}
