import type { z } from 'zod';
import { isoTime as iso, isoOrNull } from '../platform/iso-time.ts';
import type { ApiKeyRow } from './api-key-store.ts';
import type { apiKeySchema, sessionSchema, userSchema } from './auth-schema.ts';
import type { SessionRow } from './session-store.ts';
import type { UserRow } from './user-store.ts';

/** Every user field that leaves the server: no hash, no MFA secret, no timestamps of secrets. */
export function presentUser(user: UserRow): z.infer<typeof userSchema> {
  return {
    id: user.id,
    email: user.email,
    displayName: user.display_name,
    isAdmin: user.is_admin,
    mfaEnabled: user.mfa_enabled_at !== null,
    disabled: user.disabled_at !== null,
    createdAt: iso(user.created_at),
  };
}

/** A session as its owner sees it: never the token or its hash. */
export function presentSession(
  session: SessionRow,
  currentSessionId: string | undefined,
): z.infer<typeof sessionSchema> {
  return {
    id: session.id,
    createdAt: iso(session.created_at),
    lastSeenAt: iso(session.last_seen_at),
    expiresAt: iso(session.expires_at),
    ip: session.ip,
    userAgent: session.user_agent,
    current: session.id === currentSessionId,
  };
}

export function presentApiKey(key: ApiKeyRow): z.infer<typeof apiKeySchema> {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    scopes: key.scopes as z.infer<typeof apiKeySchema>['scopes'],
    expiresAt: isoOrNull(key.expires_at),
    lastUsedAt: isoOrNull(key.last_used_at),
    createdAt: iso(key.created_at),
  };
}
