import { createHmac, randomBytes } from 'node:crypto';

/**
 * One-time passwords: HOTP (RFC 4226) and its time-based form TOTP (RFC 6238), with the
 * base32 alphabet of RFC 4648 §6 that authenticator apps read from `otpauth://` URIs.
 */
export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface TotpOptions {
  digits?: number;
  stepSeconds?: number;
  algorithm?: TotpAlgorithm;
}

const DEFAULTS = { digits: 6, stepSeconds: 30, algorithm: 'sha1' as TotpAlgorithm };

/** RFC 4226 §5.3: HMAC, dynamic truncation, modulo 10^digits. */
export function hotp(
  secret: Buffer,
  counter: bigint,
  digits = 6,
  algorithm: TotpAlgorithm = 'sha1',
): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(counter);
  const mac = createHmac(algorithm, secret).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary =
    ((mac[offset]! & 0x7f) << 24) |
    (mac[offset + 1]! << 16) |
    (mac[offset + 2]! << 8) |
    mac[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 §4.2: T = floor((unix time - T0) / X), T0 = 0. */
export function totpStep(unixSeconds: number, stepSeconds = DEFAULTS.stepSeconds): number {
  return Math.floor(unixSeconds / stepSeconds);
}

export function totp(secret: Buffer, unixSeconds: number, options: TotpOptions = {}): string {
  const { digits, stepSeconds, algorithm } = { ...DEFAULTS, ...options };
  return hotp(secret, BigInt(totpStep(unixSeconds, stepSeconds)), digits, algorithm);
}

/**
 * The time step a code matches within ±`window` steps (clock drift, RFC 6238 §5.2), or
 * undefined. Callers store the step and refuse any step not after it, so a code is used once.
 */
export function matchTotp(
  secret: Buffer,
  code: string,
  unixSeconds: number,
  window = 1,
  options: TotpOptions = {},
): number | undefined {
  const { digits, stepSeconds, algorithm } = { ...DEFAULTS, ...options };
  if (!new RegExp(`^\\d{${digits}}$`).test(code)) return undefined;
  const now = totpStep(unixSeconds, stepSeconds);
  let matched: number | undefined;
  // Every candidate is computed and compared, so timing does not tell which one matched.
  for (let step = now - window; step <= now + window; step++) {
    const candidate = hotp(secret, BigInt(step), digits, algorithm);
    let difference = 0;
    for (let i = 0; i < digits; i++) difference |= candidate.charCodeAt(i) ^ code.charCodeAt(i);
    if (difference === 0 && matched === undefined) matched = step;
  }
  return matched;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Encode(data: Buffer): string {
  let bits = 0;
  let value = 0;
  let output = '';
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      output += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) output += ALPHABET[(value << (5 - bits)) & 31];
  return output;
}

/** Case-insensitive; spaces and padding ignored. Throws on any other character. */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const char of clean) {
    const index = ALPHABET.indexOf(char);
    if (index < 0) throw new Error('invalid base32 character');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** 160 bits, the HMAC-SHA1 block RFC 4226 §4 recommends. */
export function generateTotpSecret(): Buffer {
  return randomBytes(20);
}

/** The URI authenticator apps scan (Google Authenticator key-uri format). */
export function otpauthUri(secret: Buffer, account: string, issuer = 'Brain Cells'): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({
    secret: base32Encode(secret),
    issuer,
    algorithm: 'SHA1',
    digits: '6',
    period: '30',
  });
  return `otpauth://totp/${label}?${query.toString()}`;
}
