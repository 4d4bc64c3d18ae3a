import { describe, expect, it } from 'vitest';
import {
  createPasswordHasher,
  hashPassword,
  needsRehash,
  PASSWORD_HASH_PARAMETERS,
  verifyPassword,
} from './password-hash.ts';

const FAST = { log2N: 10, r: 8, p: 1 };

describe('password hashing', () => {
  it('hashes with scrypt at the configured cost and verifies', async () => {
    const stored = await hashPassword('correct horse battery staple');
    const { log2N, r, p } = PASSWORD_HASH_PARAMETERS;
    expect(stored).toMatch(
      new RegExp(`^scrypt\\$${log2N}\\$${r}\\$${p}\\$[\\w-]{22}\\$[\\w-]{43}$`),
    );
    expect(stored).not.toContain('correct horse');
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', stored)).toBe(false);
    expect(needsRehash(stored)).toBe(false);
  });

  it('salts: the same password never hashes the same way twice', async () => {
    const [a, b] = await Promise.all([
      hashPassword('same password!', FAST),
      hashPassword('same password!', FAST),
    ]);
    expect(a).not.toBe(b);
  });

  it('verifies hashes made with other parameters and flags weaker ones for rehash', async () => {
    const stored = await hashPassword('an older password', FAST);
    expect(await verifyPassword('an older password', stored)).toBe(true);
    expect(needsRehash(stored)).toBe(true);
  });

  it('treats Unicode compatibility forms as the same password (NFKC)', async () => {
    const stored = await hashPassword('ﬁnest password', FAST); // U+FB01 ligature
    expect(await verifyPassword('finest password', stored)).toBe(true);
  });

  it.each([
    '',
    'plain-text-password',
    'scrypt$abc$8$1$c2FsdA$aGFzaA',
    'scrypt$40$8$1$c2FsdA$aGFzaA', // absurd cost: refused, not computed
    'bcrypt$10$8$1$c2FsdA$aGFzaA',
    'scrypt$10$8$1$c2FsdA$dG9vc2hvcnQ', // wrong key length
  ])('refuses a malformed stored hash %j', async (stored) => {
    expect(await verifyPassword('whatever password', stored)).toBe(false);
  });

  it('gives the server a hasher at PASSWORD_HASH_PARAMETERS unless told otherwise', async () => {
    const server = createPasswordHasher();
    const { log2N, r, p } = PASSWORD_HASH_PARAMETERS;
    const stored = await server.hash('the server default');
    expect(stored.startsWith(`scrypt$${log2N}$${r}$${p}$`)).toBe(true);
    expect(server.needsRehash(stored)).toBe(false);
    expect(server.needsRehash(await hashPassword('cheap', FAST))).toBe(true);

    const cheap = createPasswordHasher(FAST);
    const cheapStored = await cheap.hash('a cheap one');
    expect(cheapStored.startsWith('scrypt$10$8$1$')).toBe(true);
    expect(cheap.needsRehash(cheapStored)).toBe(false);
    expect(await cheap.verify('a cheap one', cheapStored)).toBe(true);
    // No account: checked against a decoy of the same cost, never true.
    expect(await cheap.verify('a cheap one', undefined)).toBe(false);
    expect(await server.verify('anything at all', undefined)).toBe(false);
  });
});
