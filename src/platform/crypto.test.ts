import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  addKeyToFile,
  constantTimeEqual,
  createSecretBox,
  deriveKey,
  keyFilePath,
  loadSecretBox,
  retainKeysInFile,
  SecretBoxError,
} from './crypto.ts';

const dirs: string[] = [];
function tempDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-crypto-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const SECRET = 'an operator secret that is long enough!';

describe('secret box', () => {
  it('seals with AES-256-GCM, names the key, and opens again', () => {
    const box = createSecretBox([deriveKey(SECRET)]);
    const sealed = box.encrypt('sk-provider-key-123', 'llm_provider.api_key:1');
    expect(sealed.startsWith(`v1:${box.currentKeyId}:`)).toBe(true);
    expect(sealed).not.toContain('sk-provider');
    expect(box.keyIdOf(sealed)).toBe(box.currentKeyId);
    expect(box.decrypt(sealed, 'llm_provider.api_key:1')).toBe('sk-provider-key-123');
    // A fresh IV every time.
    expect(box.encrypt('same', 'c')).not.toBe(box.encrypt('same', 'c'));
  });

  it('refuses a value moved to another row, tampered with, or sealed by an unknown key', () => {
    const box = createSecretBox([deriveKey(SECRET)]);
    const sealed = box.encrypt('secret value', 'app_user.mfa_secret:a');
    expect(() => box.decrypt(sealed, 'app_user.mfa_secret:b')).toThrow(SecretBoxError);
    const parts = sealed.split(':');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[3] = body.toString('base64url');
    expect(() => box.decrypt(parts.join(':'), 'app_user.mfa_secret:a')).toThrow(/authentication/);
    const other = createSecretBox([deriveKey(`${SECRET}-other`)]);
    expect(() => other.decrypt(sealed, 'app_user.mfa_secret:a')).toThrow(/unknown key/);
    expect(() => box.decrypt('plaintext', '')).toThrow(/not a sealed secret/);
  });

  it('opens values sealed under previous keys and seals new ones under the current key', () => {
    const old = createSecretBox([deriveKey('the previous secret, also 32+ chars')]);
    const sealed = old.encrypt('kept', 'x');
    const dir = tempDir();
    const { box, source } = loadSecretBox({
      dataDir: dir,
      secret: { current: SECRET, previous: ['the previous secret, also 32+ chars'] },
    });
    expect(source).toBe('env');
    expect(box.decrypt(sealed, 'x')).toBe('kept');
    expect(box.keyIdOf(box.encrypt('new', 'x'))).toBe(
      createSecretBox([deriveKey(SECRET)]).currentKeyId,
    );
  });

  it('generates a 0600 key file when no secret is configured, and reuses it', () => {
    const dir = tempDir();
    const first = loadSecretBox({ dataDir: dir, secret: { current: undefined, previous: [] } });
    expect(first.source).toBe('key-file');
    expect(statSync(keyFilePath(dir)).mode & 0o777).toBe(0o600);
    const sealed = first.box.encrypt('value', 'ctx');
    const second = loadSecretBox({ dataDir: dir, secret: { current: undefined, previous: [] } });
    expect(second.box.decrypt(sealed, 'ctx')).toBe('value');
  });

  it('refuses a key file other users can read', () => {
    const dir = tempDir();
    loadSecretBox({ dataDir: dir, secret: { current: undefined, previous: [] } });
    chmodSync(keyFilePath(dir), 0o644);
    expect(() =>
      loadSecretBox({ dataDir: dir, secret: { current: undefined, previous: [] } }),
    ).toThrow(/chmod 600/);
  });

  it('refuses a damaged key file', () => {
    const dir = tempDir();
    writeFileSync(keyFilePath(dir), '{"version":1,"keys":[{"id":"x","key":"c2hvcnQ="}]}', {
      mode: 0o600,
    });
    expect(() =>
      loadSecretBox({ dataDir: dir, secret: { current: undefined, previous: [] } }),
    ).toThrow(/damaged key/);
  });

  it('adds a new current key to the file and later drops the old ones', () => {
    const dir = tempDir();
    const before = loadSecretBox({
      dataDir: dir,
      secret: { current: undefined, previous: [] },
    }).box;
    const sealed = before.encrypt('value', 'c');
    const newId = addKeyToFile(dir);
    const during = loadSecretBox({
      dataDir: dir,
      secret: { current: undefined, previous: [] },
    }).box;
    expect(during.currentKeyId).toBe(newId);
    expect(during.decrypt(sealed, 'c')).toBe('value');
    expect(retainKeysInFile(dir, [newId])).toEqual([before.currentKeyId]);
    const after = loadSecretBox({ dataDir: dir, secret: { current: undefined, previous: [] } }).box;
    expect(after.keyIds).toEqual([newId]);
    expect(readFileSync(keyFilePath(dir), 'utf8')).not.toContain(before.currentKeyId);
  });

  it('compares in constant time and handles different lengths', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
  });
});
