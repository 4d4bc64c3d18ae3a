/**
 * Builds the web app (web/ → dist/web) when dist/web is missing or older than its sources.
 * `npm start` runs it first (prestart); the browser tests' global setup too.
 *   node scripts/build-web.ts          build only when stale
 *   node scripts/build-web.ts --force  always build
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WEB = path.join(ROOT, 'web');
const BUILT = path.join(ROOT, 'dist', 'web', 'index.html');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** The wire types and constants the web app imports from the server (src/shared/api-types.ts). */
const SHARED = path.join(ROOT, 'src', 'shared');

/** True when dist/web is missing or any file under web/ or src/shared/ (or the lockfile) is newer. */
export function webBuildStale(): boolean {
  if (!existsSync(BUILT)) return true;
  const built = statSync(BUILT).mtimeMs;
  const lock = path.join(ROOT, 'package-lock.json');
  return (
    Math.max(newestMtime(WEB), newestMtime(SHARED)) > built ||
    (existsSync(lock) && statSync(lock).mtimeMs > built)
  );
}

/**
 * Runs `vite build` in a child process with NODE_ENV=production: Vite keeps a NODE_ENV it
 * finds (Vitest sets `test`), and React's development build would ship otherwise.
 */
export async function buildWeb(options: { quiet?: boolean } = {}): Promise<void> {
  const vite = path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const args = [vite, 'build', '--config', path.join(WEB, 'vite.config.ts')];
  if (options.quiet) args.push('--logLevel', 'warn');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, NODE_ENV: 'production' },
    });
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`vite build failed (exit ${code})`);
}

export async function buildWebIfStale(options: { quiet?: boolean } = {}): Promise<boolean> {
  if (!webBuildStale()) return false;
  if (!options.quiet)
    console.error('web: building the web app (dist/web is missing or older than web/)');
  await buildWeb(options);
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  if (force) await buildWeb();
  else await buildWebIfStale();
}
