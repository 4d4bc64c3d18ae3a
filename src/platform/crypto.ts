import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Secrets at rest (provider keys, TOTP secrets): AES-256-GCM with a fresh 96-bit IV per value
 * (NIST SP 800-38D §8.2.2). Every ciphertext names the key that sealed it, so keys can rotate
 * while old values still open:
 *
 *   v1:<keyId>:<iv>:<ciphertext>:<tag>      (base64url parts)
 *
 * The header and an optional context string (use `secretContext(table, column, rowId)`) are
 * authenticated data: a value copied to another row, or relabelled with another key id, fails
 * to open instead of decrypting under the wrong owner.
 *
 * Keys come from BRAINCELLS_SECRET (HKDF-SHA256, RFC 5869) with BRAINCELLS_SECRET_PREVIOUS as
 * decrypt-only keys, or else from a key file (mode 0600) generated in the data dir.
 */
export interface SecretBox {
  /** The key new values are sealed with. */
  readonly currentKeyId: string;
  /** Every key id this box can open. */
  readonly keyIds: readonly string[];
  encrypt(plaintext: string, context?: string): string;
  /** Throws SecretBoxError when the value is malformed, tampered with, or its key is unknown. */
  decrypt(sealed: string, context?: string): string;
  /** The key id a sealed value names (undefined if it is not one of ours). */
  keyIdOf(sealed: string): string | undefined;
}

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

export const KEY_FILE_NAME = 'secret-keys.json';
const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The context string a column value is bound to. */
export function secretContext(table: string, column: string, rowId: string): string {
  return `${table}.${column}:${rowId}`;
}

/** A short public id for a key: a hash of it, so the id reveals nothing of the key. */
export function keyIdFor(key: Buffer): string {
  return createHash('sha256').update('braincells-key-id\0').update(key).digest('hex').slice(0, 16);
}

/** 32 key bytes from an operator-chosen secret (RFC 5869 HKDF-SHA256). */
export function deriveKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'braincells', 'secrets-at-rest v1', 32));
}

export function createSecretBox(keys: readonly Buffer[]): SecretBox {
  const [current] = keys;
  if (!current) throw new SecretBoxError('a secret box needs at least one key');
  const byId = new Map<string, Buffer>();
  for (const key of keys) {
    if (key.length !== 32) throw new SecretBoxError('AES-256 keys are 32 bytes');
    byId.set(keyIdFor(key), key);
  }
  const currentKeyId = keyIdFor(current);
  const aad = (keyId: string, context: string) => Buffer.from(`${VERSION}:${keyId}:${context}`);

  return {
    currentKeyId,
    keyIds: [...byId.keys()],
    encrypt(plaintext, context = '') {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(aad(currentKeyId, context));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, currentKeyId, b64(iv), b64(body), b64(tag)].join(':');
    },
    decrypt(sealed, context = '') {
      const parts = sealed.split(':');
      if (parts.length !== 5 || parts[0] !== VERSION) {
        throw new SecretBoxError('not a sealed secret');
      }
      const [, keyId, ivText, bodyText, tagText] = parts as [
        string,
        string,
        string,
        string,
        string,
      ];
      const key = byId.get(keyId);
      if (!key) throw new SecretBoxError(`sealed with unknown key ${keyId}`);
      const iv = Buffer.from(ivText, 'base64url');
      const tag = Buffer.from(tagText, 'base64url');
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new SecretBoxError('not a sealed secret');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad(keyId, context));
        decipher.setAuthTag(tag);
        const body = Buffer.from(bodyText, 'base64url');
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretBoxError('sealed secret failed authentication');
      }
    },
    keyIdOf(sealed) {
      const parts = sealed.split(':');
      return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
    },
  };
}

function b64(buffer: Buffer): string {
  return buffer.toString('base64url');
}

// — where the keys live —

interface KeyFile {
  version: 1;
  /** Newest first; the first is the current key. */
  keys: { id: string; key: string; createdAt: string }[];
}

export interface SecretBoxSource {
  dataDir: string;
  secret: { current: string | undefined; previous: readonly string[] };
}

export interface LoadedSecretBox {
  box: SecretBox;
  /** Where the current key comes from. */
  source: 'env' | 'key-file';
  keyFile: string;
}

export function keyFilePath(dataDir: string): string {
  return path.join(dataDir, KEY_FILE_NAME);
}

/**
 * BRAINCELLS_SECRET (current) + BRAINCELLS_SECRET_PREVIOUS + any key file keys (decrypt-only,
 * so data sealed before the operator set BRAINCELLS_SECRET still opens until rotated);
 * otherwise the key file, created on first use.
 */
export function loadSecretBox(source: SecretBoxSource): LoadedSecretBox {
  const file = keyFilePath(source.dataDir);
  if (source.secret.current) {
    const keys = [source.secret.current, ...source.secret.previous].map(deriveKey);
    if (existsSync(file))
      keys.push(...readKeyFile(file).keys.map((k) => Buffer.from(k.key, 'base64')));
    return { box: createSecretBox(dedupe(keys)), source: 'env', keyFile: file };
  }
  if (!existsSync(file)) writeKeyFile(file, { version: 1, keys: [newKeyEntry()] });
  const contents = readKeyFile(file);
  const keys = contents.keys.map((k) => Buffer.from(k.key, 'base64'));
  const previous = source.secret.previous.map(deriveKey);
  return {
    box: createSecretBox(dedupe([...keys, ...previous])),
    source: 'key-file',
    keyFile: file,
  };
}

/** Puts a new current key at the head of the key file, keeping the others for decryption. */
export function addKeyToFile(dataDir: string): string {
  const file = keyFilePath(dataDir);
  const contents: KeyFile = existsSync(file) ? readKeyFile(file) : { version: 1, keys: [] };
  const entry = newKeyEntry();
  writeKeyFile(file, { version: 1, keys: [entry, ...contents.keys] });
  return entry.id;
}

/** Drops every key but those listed (after a rotation re-encrypted everything). */
export function retainKeysInFile(dataDir: string, keepIds: readonly string[]): string[] {
  const file = keyFilePath(dataDir);
  const contents = readKeyFile(file);
  const kept = contents.keys.filter((k) => keepIds.includes(k.id));
  if (kept.length === 0) throw new SecretBoxError('refusing to remove every key from the key file');
  writeKeyFile(file, { version: 1, keys: kept });
  return contents.keys.filter((k) => !keepIds.includes(k.id)).map((k) => k.id);
}

function newKeyEntry(): KeyFile['keys'][number] {
  const key = randomBytes(32);
  return { id: keyIdFor(key), key: key.toString('base64'), createdAt: new Date().toISOString() };
}

function readKeyFile(file: string): KeyFile {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SecretBoxError(
      `key file ${file} is readable by other users (mode ${mode.toString(8)}); run chmod 600 on it`,
    );
  }
  let parsed: KeyFile;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as KeyFile;
  } catch {
    throw new SecretBoxError(`key file ${file} is not valid JSON`);
  }
  if (parsed.version !== 1 || !Array.isArray(parsed.keys) || parsed.keys.length === 0) {
    throw new SecretBoxError(`key file ${file} holds no keys`);
  }
  for (const entry of parsed.keys) {
    const key = Buffer.from(entry.key ?? '', 'base64');
    if (key.length !== 32 || keyIdFor(key) !== entry.id) {
      throw new SecretBoxError(`key file ${file} holds a damaged key (${String(entry.id)})`);
    }
  }
  return parsed;
}

/** Written to a temporary file (0600) then renamed, so a crash never leaves half a key file. */
function writeKeyFile(file: string, contents: KeyFile): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600, flag: 'w' });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

function dedupe(keys: Buffer[]): Buffer[] {
  const seen = new Set<string>();
  return keys.filter((key) => {
    const id = keyIdFor(key);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

// — small primitives shared by the auth code —

/** 256 random bits, base64url (43 characters). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 hex of a high-entropy token; what the database stores instead of the token. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) {
    timingSafeEqual(left, left); // same work either way
    return false;
  }
  return timingSafeEqual(left, right);
}
