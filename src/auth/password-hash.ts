import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Password hashing with scrypt (RFC 7914), parameters from OWASP's password storage cheat
 * sheet (N=2^15, r=8, p=3: 32 MiB per hash, ~0.1–0.3 s of CPU). The stored string names its parameters so
 * they can rise later without breaking existing hashes:
 *
 *   scrypt$<log2 N>$<r>$<p>$<salt>$<hash>      (base64url salt and hash)
 */
export interface PasswordHashParameters {
  log2N: number;
  r: number;
  p: number;
}

export const PASSWORD_HASH_PARAMETERS: PasswordHashParameters = { log2N: 15, r: 8, p: 3 };
const KEY_LENGTH = 32;
const SALT_BYTES = 16;

function derive(
  password: string,
  salt: Buffer,
  parameters: PasswordHashParameters,
): Promise<Buffer> {
  const N = 2 ** parameters.log2N;
  const options: ScryptOptions = {
    N,
    r: parameters.r,
    p: parameters.p,
    maxmem: 256 * N * parameters.r,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export async function hashPassword(
  password: string,
  parameters: PasswordHashParameters = PASSWORD_HASH_PARAMETERS,
): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, parameters);
  return [
    'scrypt',
    parameters.log2N,
    parameters.r,
    parameters.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

/** Constant-time comparison of the derived key; false for any malformed stored hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [log2N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![log2N, r, p].every(Number.isInteger) || log2N < 10 || log2N > 20 || r < 1 || p < 1) {
    return false;
  }
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length !== KEY_LENGTH) return false;
  const actual = await derive(password, salt, { log2N, r, p });
  return timingSafeEqual(actual, expected);
}

// A real hash of nothing anyone knows: checking a password against it takes as long as a real
// check, so "no such account" and "wrong password" cannot be told apart by timing.
let decoy: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(32).toString('base64url'));
  return decoy;
}

/** True when a stored hash was made with weaker parameters than `current` (rehash at sign-in). */
export function needsRehash(
  stored: string,
  current: PasswordHashParameters = PASSWORD_HASH_PARAMETERS,
): boolean {
  const [scheme, log2N, r, p] = stored.split('$');
  return (
    scheme !== 'scrypt' ||
    Number(log2N) < current.log2N ||
    Number(r) < current.r ||
    Number(p) < current.p
  );
}

/** Hashing with one set of parameters, handed to the account use cases. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Checks against `stored`, or against a decoy of the same cost when there is no account. */
  verify(password: string, stored: string | undefined): Promise<boolean>;
  needsRehash(stored: string): boolean;
}

/**
 * The server uses PASSWORD_HASH_PARAMETERS; tests whose subject is not the hash's cost pass
 * cheaper ones (src/features.ts `passwordHash`), the stored string naming them as always.
 */
export function createPasswordHasher(
  parameters: PasswordHashParameters = PASSWORD_HASH_PARAMETERS,
): PasswordHasher {
  let ownDecoy: Promise<string> | undefined;
  const decoyHash = () => {
    if (parameters === PASSWORD_HASH_PARAMETERS) return decoyPasswordHash();
    ownDecoy ??= hashPassword(randomBytes(32).toString('base64url'), parameters);
    return ownDecoy;
  };
  return {
    hash: (password) => hashPassword(password, parameters),
    verify: async (password, stored) => verifyPassword(password, stored ?? (await decoyHash())),
    needsRehash: (stored) => needsRehash(stored, parameters),
  };
}
