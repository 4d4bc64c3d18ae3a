import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { appendRunLog } from './leak-scan.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const CLI = path.join(ROOT, 'bin', 'braincells.js');

/**
 * Node's compile cache for the processes the tests spawn: each `braincells` process loads the
 * whole app from TypeScript sources, and with the cache the type-stripped, compiled modules of
 * the first one serve the others (entries are keyed by the source's content, so a changed file
 * is a miss, never stale). A spawned CLI starts about three times faster.
 */
const COMPILE_CACHE = path.join(ROOT, 'node_modules', '.cache', 'node-compile-cache');

/** The environment a spawned server gets: ours minus settings that would change its backend. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (
      name.startsWith('BRAINCELLS_') ||
      name === 'DATABASE_URL' ||
      name === 'REDIS_URL' ||
      name === 'PORT' ||
      name === 'HOST'
    )
      continue;
    env[name] = value;
  }
  return {
    NODE_COMPILE_CACHE: COMPILE_CACHE,
    ...env,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    TZ: 'UTC',
    ...extra,
  };
}

export interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the URL once the server logs that it is ready. */
  ready(timeoutMs?: number): Promise<string>;
}

export function spawnNode(args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Spawned {
  const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  // Scanned for secrets at the end of the run (test/leak-scan.ts).
  child.on('close', () => appendRunLog(out + err));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    ready: (timeoutMs = 90_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const timer = setInterval(() => {
          const match = /"url":"(http:\/\/[^"]+)"/.exec(out);
          if (match) {
            clearInterval(timer);
            resolve(match[1]!);
          } else if (child.exitCode !== null || Date.now() - started > timeoutMs) {
            clearInterval(timer);
            reject(
              new Error(`server did not become ready (exit ${child.exitCode}): ${err || out}`),
            );
          }
        }, 25);
      }),
  };
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv): Spawned {
  return spawnNode([CLI, ...args], env);
}
