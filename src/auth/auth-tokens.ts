import { createHmac, randomBytes } from 'node:crypto';
import { randomToken, sha256Hex } from '../platform/crypto.ts';

/**
 * The shapes of the secrets clients hold. Each is 256 random bits (recovery codes: 80) from
 * the OS CSPRNG; the database keeps only SHA-256 hashes, which is enough for values this
 * random (no dictionary to try).
 */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export const API_KEY_PREFIX = 'bc_';
export const API_KEY_PATTERN = /^bc_[A-Za-z0-9_-]{43}$/;

export function newSessionToken(): string {
  return randomToken(32);
}

/** `bc_` + 43 characters; the prefix lets secret scanners and people recognise it. */
export function newApiKey(): string {
  return `${API_KEY_PREFIX}${randomToken(32)}`;
}

/** What a key list shows: enough to tell keys apart, far too little to use. */
export function apiKeyDisplayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + 6);
}

export const hashToken = sha256Hex;

/**
 * The CSRF token of a session: HMAC-SHA256 keyed by the session token. A page on another
 * site cannot read the HttpOnly cookie, so it cannot compute this, and the server needs no
 * extra state to check it (the synchronizer-token pattern without storage, OWASP CSRF
 * cheat sheet). Anyone holding the session token could compute it — and could act anyway.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('braincells-csrf-v1').digest('base64url');
}

// RFC 4648 base32 alphabet, lower case: no 0/1/8/9 to confuse with letters.
const RECOVERY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** 16 characters (80 bits) shown as xxxx-xxxx-xxxx-xxxx. */
export function newRecoveryCode(): string {
  const bytes = randomBytes(16);
  let code = '';
  for (const byte of bytes) code += RECOVERY_ALPHABET[byte & 31];
  return code.match(/.{4}/g)!.join('-');
}

/** Case, spaces and dashes do not matter when a recovery code is typed back. */
export function normalizeRecoveryCode(input: string): string | undefined {
  const clean = input.toLowerCase().replace(/[\s-]/g, '');
  return /^[a-z2-7]{16}$/.test(clean) ? clean : undefined;
}
