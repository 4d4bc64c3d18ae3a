// Scans the repository's files for committed secrets with secretlint (.secretlintrc.json:
// the recommended rules plus our key formats) and fails on a hit. Test fakes are allowed by
// pattern in .secretlintrc.json, never by skipping files. `npm run secrets`; part of `npm test`.
// It scans the working tree (tracked files and new unignored ones), not the git history.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');

/** Tracked files plus new ones not ignored: what a commit could carry. Dotfiles included. */
export function repositoryFiles(root = ROOT): string[] {
  const listed = spawnSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr.trim()}`);
  const files = new Set(listed.stdout.split('\0').filter(Boolean));
  // A file deleted but not yet staged is listed and gone.
  return [...files].filter((file) => existsSync(path.join(root, file)));
}

/** Runs secretlint with the project's rules over `files` (relative to `cwd`). */
export function scanForSecrets(
  files: readonly string[],
  options: { cwd?: string; inherit?: boolean } = {},
): { ok: boolean; output: string } {
  const result = spawnSync(
    path.join(ROOT, 'node_modules', '.bin', 'secretlint'),
    ['--secretlintrc', path.join(ROOT, '.secretlintrc.json'), '--no-maskSecrets', ...files],
    {
      cwd: options.cwd ?? ROOT,
      encoding: 'utf8',
      stdio: options.inherit ? 'inherit' : 'pipe',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (result.error) throw result.error;
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

if (import.meta.main) {
  const files = repositoryFiles();
  const { ok } = scanForSecrets(files, { inherit: true });
  if (ok) process.stdout.write(`secrets: ${files.length} files scanned, none found\n`);
  process.exit(ok ? 0 : 1);
}
