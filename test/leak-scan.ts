import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';

/**
 * "Logs never contain a secret", checked over the whole test run: every log line any test
 * platform writes (LogCapture) and every spawned server's output is appended to a per-run
 * directory, every secret a factory or test creates is registered there too, and the global
 * teardown (test/global-setup.ts) scans one against the other and fails the run on a match.
 */
export type SecretKind =
  | 'password'
  | 'session-id'
  | 'csrf-token'
  | 'api-key'
  | 'provider-key'
  | 'reset-token'
  | 'setup-token'
  | 'totp-secret'
  | 'recovery-code'
  | 'mfa-challenge';

export interface RegisteredSecret {
  kind: SecretKind;
  value: string;
}

/** Secrets shorter than this are too likely to match by chance (and too weak to be ours). */
const MIN_SECRET_LENGTH = 8;

/** Shapes that are secrets wherever they appear, registered or not. */
export const SECRET_SHAPES: { kind: SecretKind; pattern: RegExp }[] = [
  { kind: 'api-key', pattern: /\bbc_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/ },
  { kind: 'provider-key', pattern: /\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{24,}/ },
  { kind: 'provider-key', pattern: /\bhf_[A-Za-z0-9]{30,}/ },
];

function runDir(): string | undefined {
  try {
    return inject('testRunDir') ?? undefined;
  } catch {
    return undefined; // not inside a Vitest worker
  }
}

function append(subdir: 'logs' | 'secrets', text: string): void {
  const dir = runDir();
  if (!dir || text.length === 0) return;
  const target = path.join(dir, subdir);
  mkdirSync(target, { recursive: true });
  appendFileSync(
    path.join(target, `${process.pid}.ndjson`),
    text.endsWith('\n') ? text : `${text}\n`,
  );
}

/** Call for every secret a test creates or sends (factories do it for theirs). */
export function registerTestSecret(kind: SecretKind, value: string): void {
  if (value.length < MIN_SECRET_LENGTH) return;
  append('secrets', JSON.stringify({ kind, value } satisfies RegisteredSecret));
}

/** Adds output (log lines, a child process's stdout/stderr) to the run's scanned logs. */
export function appendRunLog(text: string): void {
  append('logs', text);
}

export interface Leak {
  kind: SecretKind;
  /** The secret's first characters only, so the report does not leak it again. */
  hint: string;
  file: string;
  line: number;
}

function mask(value: string): string {
  return `${value.slice(0, 4)}…(${value.length} chars)`;
}

export function findLeaks(
  files: { name: string; text: string }[],
  secrets: readonly RegisteredSecret[],
): Leak[] {
  const leaks: Leak[] = [];
  const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;
  const unique = new Map(secrets.map((secret) => [secret.value, secret]));
  for (const file of files) {
    for (const secret of unique.values()) {
      // Also as JSON would escape it inside a log line.
      const escaped = JSON.stringify(secret.value).slice(1, -1);
      const index = Math.max(file.text.indexOf(secret.value), file.text.indexOf(escaped));
      if (index >= 0) {
        leaks.push({
          kind: secret.kind,
          hint: mask(secret.value),
          file: file.name,
          line: lineOf(file.text, index),
        });
      }
    }
    for (const shape of SECRET_SHAPES) {
      const match = shape.pattern.exec(file.text);
      if (match) {
        leaks.push({
          kind: shape.kind,
          hint: mask(match[0]),
          file: file.name,
          line: lineOf(file.text, match.index),
        });
      }
    }
  }
  return leaks;
}

export function scanRunDir(dir: string): { leaks: Leak[]; secrets: number; logBytes: number } {
  const read = (subdir: string) => {
    const target = path.join(dir, subdir);
    if (!existsSync(target)) return [];
    return readdirSync(target).map((name) => ({
      name: `${subdir}/${name}`,
      text: readFileSync(path.join(target, name), 'utf8'),
    }));
  };
  const secrets = read('secrets').flatMap((file) =>
    file.text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as RegisteredSecret),
  );
  const logs = read('logs');
  return {
    leaks: findLeaks(logs, secrets),
    secrets: secrets.length,
    logBytes: logs.reduce((sum, file) => sum + file.text.length, 0),
  };
}
