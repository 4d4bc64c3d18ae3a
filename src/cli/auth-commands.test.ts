import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newPassword } from '../../test/factories.ts';
import { appendRunLog, registerTestSecret } from '../../test/leak-scan.ts';
import { CLI, childEnv } from '../../test/spawn-server.ts';
import { verifyPassword } from '../auth/password-hash.ts';
import { keyFilePath, loadSecretBox, secretContext } from '../platform/crypto.ts';
import { registerAuthCommands } from './auth-commands.ts';
import { CliError } from './cli-output.ts';
import { cliDataDirPerSuite, runCliCommand, withCliDatabase } from './cli-test-helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-cli-'));
  dirs.push(dir);
  return dir;
}

/**
 * Runs `braincells …` with stdin fed. Its log (stderr) joins the run's log scan; stdout is
 * the command's answer (a reset link is meant to be printed there).
 */
function cli(
  args: string[],
  env: Record<string, string>,
  stdin = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: childEnv({ LOG_LEVEL: 'warn', ...env }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(stdin);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      appendRunLog(stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `braincells …` in this process (no spawn): for commands whose process is not the subject. */
const run = (...args: string[]) => runCliCommand(registerAuthCommands, args);

describe('braincells user and secrets commands', () => {
  const storage = cliDataDirPerSuite();

  it('creates the first admin from a piped password, prints a reset link, rotates the key', async () => {
    const dir = storage().dataDir;
    const password = newPassword();
    // A real process: the password arrives on a pipe, the answer on stdout, exit code 0.
    const created = await cli(
      ['user', 'create', '--email', 'Admin@Example.com', '--admin', '--password-stdin'],
      { BRAINCELLS_DATA_DIR: dir },
      `${password}\n`,
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^created admin admin@example\.com \([0-9a-f-]{36}\)\n$/);
    const id = /\(([0-9a-f-]{36})\)/.exec(created.stdout)![1]!;

    const link = await run('user', 'reset-link', 'admin@example.com', '--json');
    expect(link.error).toBeUndefined();
    const { link: url } = JSON.parse(link.out) as { link: string };
    const token = new URL(url).hash.replace('#token=', '');
    registerTestSecret('reset-token', token);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:3000\/reset-password#token=[A-Za-z0-9_-]{43}$/);

    const unknown = await run('user', 'reset-link', 'nobody@example.com');
    expect(unknown.out).toBe('');
    expect((unknown.error as Error).message).toBe('user not found');
    expect(unknown.error).not.toBeInstanceOf(CliError); // main.ts: exit 1, "braincells: user not found"

    const before = loadSecretBox({
      dataDir: dir,
      secret: { current: undefined, previous: [] },
    }).box;
    const context = secretContext('app_user', 'mfa_pending_secret', id);
    const sealed = before.encrypt('JBSWY3DPEHPK3PXP', context);
    await withCliDatabase(storage(), async (db) => {
      const user = await db
        .selectFrom('app_user')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(user).toMatchObject({ id, email: 'admin@example.com', is_admin: true });
      expect(await verifyPassword(password, user.password_hash)).toBe(true);
      const tokens = await db.selectFrom('auth_token').select(['kind', 'token_hash']).execute();
      expect(tokens).toEqual([
        { kind: 'password-reset', token_hash: expect.not.stringContaining(token) },
      ]);
      await db.updateTable('app_user').set({ mfa_pending_secret: sealed }).execute();
    });

    const rotated = await run('secrets', 'rotate', '--json');
    expect(rotated.error).toBeUndefined();
    const report = JSON.parse(rotated.out);
    expect(report).toMatchObject({
      reencrypted: 1,
      remaining: 0,
      source: 'key-file',
      removedKeys: [before.currentKeyId],
    });
    const after = loadSecretBox({ dataDir: dir, secret: { current: undefined, previous: [] } }).box;
    expect(after.keyIds).toEqual([report.keyId]);
    expect(readFileSync(keyFilePath(dir), 'utf8')).not.toContain(before.currentKeyId);
    const stored = await withCliDatabase(storage(), (db) =>
      db.selectFrom('app_user').select('mfa_pending_secret').executeTakeFirstOrThrow(),
    );
    expect(after.keyIdOf(stored.mfa_pending_secret!)).toBe(report.keyId);
    expect(after.decrypt(stored.mfa_pending_secret!, context)).toBe('JBSWY3DPEHPK3PXP');
  }, 180_000); // one CLI process, loading the app and PGlite

  it('refuses a short password and a missing terminal in one line, exit 2', async () => {
    const env = { BRAINCELLS_DATA_DIR: dataDir() };
    const short = await cli(
      ['user', 'create', '--email', 'a@example.com', '--password-stdin'],
      env,
      'short\n',
    );
    expect(short.code).toBe(2);
    expect(short.stderr.trim()).toBe('braincells: password: must be at least 12 characters');
    const noTty = await cli(['user', 'create', '--email', 'a@example.com'], env);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain('--password-stdin');
  }, 180_000); // two CLI processes; on a loaded 2-core machine each start can take a minute
});
