import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, hotp, matchTotp, otpauthUri, totp, totpStep } from './totp.ts';

const SHA1_SEED = Buffer.from('12345678901234567890');
const SHA256_SEED = Buffer.from('12345678901234567890123456789012');
const SHA512_SEED = Buffer.from('1234567890123456789012345678901234567890123456789012345678901234');

describe('HOTP (RFC 4226 appendix D)', () => {
  it.each([
    [0, '755224'],
    [1, '287082'],
    [2, '359152'],
    [3, '969429'],
    [4, '338314'],
    [5, '254676'],
    [6, '287922'],
    [7, '162583'],
    [8, '399871'],
    [9, '520489'],
  ])('counter %i → %s', (counter, expected) => {
    expect(hotp(SHA1_SEED, BigInt(counter))).toBe(expected);
  });
});

describe('TOTP (RFC 6238 appendix B)', () => {
  it.each([
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ])('at %i s: SHA1 %s, SHA256 %s, SHA512 %s', (time, sha1, sha256, sha512) => {
    expect(totp(SHA1_SEED, time, { digits: 8, algorithm: 'sha1' })).toBe(sha1);
    expect(totp(SHA256_SEED, time, { digits: 8, algorithm: 'sha256' })).toBe(sha256);
    expect(totp(SHA512_SEED, time, { digits: 8, algorithm: 'sha512' })).toBe(sha512);
  });

  it('accepts a code one step either side and reports which step matched', () => {
    const now = 1_700_000_000;
    const step = totpStep(now);
    expect(matchTotp(SHA1_SEED, totp(SHA1_SEED, now), now)).toBe(step);
    expect(matchTotp(SHA1_SEED, totp(SHA1_SEED, now - 30), now)).toBe(step - 1);
    expect(matchTotp(SHA1_SEED, totp(SHA1_SEED, now + 30), now)).toBe(step + 1);
    expect(matchTotp(SHA1_SEED, totp(SHA1_SEED, now - 60), now)).toBeUndefined();
    expect(matchTotp(SHA1_SEED, totp(SHA1_SEED, now + 60), now)).toBeUndefined();
  });

  it.each(['', '12345', '1234567', 'abcdef', '12 345', '١٢٣٤٥٦'])(
    'refuses malformed code %j',
    (code) => {
      expect(matchTotp(SHA1_SEED, code, 1_700_000_000)).toBeUndefined();
    },
  );
});

describe('base32 (RFC 4648 §10)', () => {
  it.each([
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ])('%j ⇄ %s', (plain, encoded) => {
    expect(base32Encode(Buffer.from(plain))).toBe(encoded);
    expect(base32Decode(encoded).toString()).toBe(plain);
    expect(base32Decode(`${encoded.toLowerCase()}====`).toString()).toBe(plain);
  });

  it('refuses characters outside the alphabet', () => {
    expect(() => base32Decode('MZ1W')).toThrow();
  });

  it('builds the otpauth URI authenticator apps scan', () => {
    const uri = new URL(otpauthUri(SHA1_SEED, 'ada@example.com'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Brain Cells:ada@example.com');
    expect(uri.searchParams.get('secret')).toBe(base32Encode(SHA1_SEED));
    expect(uri.searchParams.get('issuer')).toBe('Brain Cells');
  });
});
