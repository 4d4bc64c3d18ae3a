import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where user-written SQL runs (read-only queries, formulas): a separate process with a DuckDB
 * instance of its own, so isolation does not depend on any checker being right.
 *   - The instance is in memory and empty; the only data it sees are Parquet files the caller
 *     wrote for this one session (one dataset, or the columns a formula reads), as views.
 *   - `allowed_paths` names those files (and one output file, if any); then
 *     `enable_external_access = false` and `lock_configuration = true`: no other file, glob,
 *     replacement scan, ATTACH, extension install, or setting change is possible.
 *   - The process starts with an empty environment, in the sandbox's own directory, and never
 *     opens the main DuckDB file: other datasets and the data dir are not reachable from it.
 *   - Limits are enforced from outside: at the deadline the statement is interrupted, and if
 *     it has not stopped within a short grace the process is killed (DuckDB does not honour an
 *     interrupt while it materializes a huge list). Its resident memory is watched and the
 *     process is killed past the cap (DuckDB's own `memory_limit` does not bound list
 *     materialization). Spilling is off, so temp space is zero.
 * Processes are reused (a fresh DuckDB instance per session), up to `processes` at a time.
 */
export interface SandboxOptions {
  /** A directory of the sandbox's own; emptied at start. */
  workDir: string;
  /** Resident memory one sandbox process may use before it is killed. */
  memoryBytes: number;
  /** Sandbox processes at most (sessions beyond wait their turn). */
  processes: number;
  /** DuckDB threads per sandbox process. */
  threads?: number;
  /** How long a stopped statement may take to notice an interrupt before its process is killed. */
  graceMs?: number;
  /** An idle process is stopped after this long. */
  idleMs?: number;
  /**
   * How long a new process may take to start (Node and DuckDB loading) before it is killed.
   * Starting is not the statement's time: a session's deadline begins once its process is ready.
   */
  startMs?: number;
}

export interface SandboxView {
  /** The name the session's SQL uses for it. */
  name: string;
  /** A Parquet file (written with `tempPath`). */
  path: string;
}

export interface SandboxRows {
  columns: { name: string; type: string }[];
  rows: Record<string, unknown>[];
  truncated: boolean;
}

export interface SandboxSession {
  /** Runs exactly one statement and returns at most `maxRows` rows of JSON values. */
  query(sql: string, limits: { maxRows: number; maxBytes: number }): Promise<SandboxRows>;
  /** Runs exactly one statement (e.g. COPY … TO the session's writable file, by its base name). */
  run(sql: string): Promise<number>;
}

/** The sandbox stopped the work: over time, over memory, or the process died. */
export class SandboxLimitError extends Error {
  readonly reason: 'timeout' | 'memory' | 'crashed' | 'closed';
  constructor(reason: SandboxLimitError['reason'], message: string) {
    super(message);
    this.name = 'SandboxLimitError';
    this.reason = reason;
  }
}

/** DuckDB refused or failed the statement (its message, to be worded for the user). */
export class SandboxQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxQueryError';
  }
}

export interface DuckDbSandbox {
  readonly workDir: string;
  /** A fresh path in the work dir; the caller removes the file when done. */
  tempPath(extension: string): string;
  session<T>(
    options: { views: SandboxView[]; writable?: string[]; timeoutMs: number },
    work: (session: SandboxSession) => Promise<T>,
  ): Promise<T>;
  close(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./duckdb-sandbox-child.ts', import.meta.url));
const MEMORY_POLL_MS = 50;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** One sandbox process: requests go out one at a time and come back by id. */
interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  pending: Map<number, Pending>;
  /** Why it was killed, if we killed it. */
  killedFor?: SandboxLimitError;
  exited: boolean;
  idleTimer?: NodeJS.Timeout;
}

export function createDuckDbSandbox(options: SandboxOptions): DuckDbSandbox {
  const graceMs = options.graceMs ?? 1_000;
  const idleMs = options.idleMs ?? 30_000;
  const startMs = options.startMs ?? 60_000;
  // DuckDB's own limit a little under the hard cap, so most overruns end as a clean error.
  const duckdbMemory = `${Math.max(64, Math.floor((options.memoryBytes * 0.75) / 1024 / 1024))}MB`;
  rmSync(options.workDir, { recursive: true, force: true });
  mkdirSync(options.workDir, { recursive: true, mode: 0o700 });

  const idle: Worker[] = [];
  const all = new Set<Worker>();
  const waiting: { resolve: (worker: Worker) => void; reject: (error: Error) => void }[] = [];
  let closed = false;
  let nextId = 1;

  const spawn = (): Worker => {
    const child = fork(CHILD, [], {
      cwd: options.workDir,
      env: {},
      execArgv: ['--max-old-space-size=256'],
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      serialization: 'json',
    });
    const worker: Worker = { child, pending: new Map(), exited: false, ready: Promise.resolve() };
    // A process not ready within `startMs` is killed (its sessions fail, its slot is freed).
    const startTimer = setTimeout(
      () => kill(worker, new SandboxLimitError('crashed', 'The query process did not start')),
      startMs,
    );
    worker.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: { type?: string }) => {
        if (message.type === 'ready') {
          clearTimeout(startTimer);
          child.off('message', onMessage);
          resolve();
        }
      };
      child.on('message', onMessage);
      child.once('exit', () => {
        clearTimeout(startTimer);
        reject(worker.killedFor ?? new SandboxLimitError('crashed', 'The query process stopped'));
      });
    });
    worker.ready.catch(() => {});
    child.on(
      'message',
      (message: { id?: number; ok?: boolean; value?: unknown; error?: string }) => {
        if (message.id === undefined) return;
        const pending = worker.pending.get(message.id);
        if (!pending) return;
        worker.pending.delete(message.id);
        if (message.ok) pending.resolve(message.value);
        // The work dir's path is ours, not the user's: it never reaches a message.
        else
          pending.reject(
            new SandboxQueryError(
              (message.error ?? 'query failed').replaceAll(options.workDir, '(snapshot)'),
            ),
          );
      },
    );
    child.on('error', () => {}); // an exit follows; handled there
    child.once('exit', () => {
      worker.exited = true;
      all.delete(worker);
      const index = idle.indexOf(worker);
      if (index >= 0) idle.splice(index, 1);
      if (worker.idleTimer) clearTimeout(worker.idleTimer);
      const error =
        worker.killedFor ?? new SandboxLimitError('crashed', 'The query process stopped');
      for (const pending of worker.pending.values()) pending.reject(error);
      worker.pending.clear();
      serveWaiters();
    });
    all.add(worker);
    return worker;
  };

  /** A worker with `killedFor` set is never lent again. */
  const kill = (worker: Worker, reason: SandboxLimitError) => {
    worker.killedFor ??= reason;
    if (worker.exited) return;
    worker.child.kill('SIGKILL');
  };

  const acquire = (): Promise<Worker> => {
    if (closed) return Promise.reject(new SandboxLimitError('closed', 'The server is stopping'));
    const worker = idle.pop();
    if (worker) {
      if (worker.idleTimer) clearTimeout(worker.idleTimer);
      return Promise.resolve(worker);
    }
    if (all.size < options.processes) return Promise.resolve(spawn());
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  };
  /** Hands idle processes, or new ones while there is room, to sessions waiting in line. */
  const serveWaiters = () => {
    while (!closed && waiting.length > 0) {
      const worker = idle.pop();
      if (worker) {
        if (worker.idleTimer) clearTimeout(worker.idleTimer);
        waiting.shift()!.resolve(worker);
      } else if (all.size < options.processes) {
        waiting.shift()!.resolve(spawn());
      } else {
        return;
      }
    }
  };
  const release = (worker: Worker) => {
    if (closed) return;
    // A killed process frees its slot when it has exited (the exit serves the line).
    if (!worker.exited && !worker.killedFor) {
      idle.push(worker);
      worker.idleTimer = setTimeout(() => {
        const index = idle.indexOf(worker);
        if (index >= 0) idle.splice(index, 1);
        kill(worker, new SandboxLimitError('closed', 'idle'));
      }, idleMs);
      worker.idleTimer.unref();
    }
    serveWaiters();
  };

  const send = (worker: Worker, message: Record<string, unknown>) =>
    new Promise<unknown>((resolve, reject) => {
      if (worker.exited) {
        reject(worker.killedFor ?? new SandboxLimitError('crashed', 'The query process stopped'));
        return;
      }
      const id = nextId++;
      worker.pending.set(id, { resolve, reject });
      worker.child.send({ ...message, id }, (error) => {
        if (!error) return;
        worker.pending.delete(id);
        reject(new SandboxLimitError('crashed', 'The query process stopped'));
      });
    });

  const rssBytes = async (pid: number) => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  };

  return {
    workDir: options.workDir,
    tempPath: (extension) => path.join(options.workDir, `${randomUUID()}.${extension}`),

    async session(sessionOptions, work) {
      // The process runs in the work dir and sees its files by name only, so nothing it can
      // read (not even its own views' definitions) says where the data dir is.
      const local = (file: string) => {
        if (path.dirname(path.resolve(file)) !== path.resolve(options.workDir))
          throw new Error(`sandbox files live in ${options.workDir}`);
        return path.basename(file);
      };
      const views = sessionOptions.views.map((view) => ({
        name: view.name,
        path: local(view.path),
      }));
      const writable = (sessionOptions.writable ?? []).map(local);
      const worker = await acquire();
      // A cold process (Node and DuckDB loading) can take seconds on a busy machine; that time
      // is not the user's statement's, so the deadline starts once the process is ready.
      try {
        await worker.ready;
      } catch (error) {
        release(worker);
        throw error;
      }
      const timeout = new SandboxLimitError(
        'timeout',
        `took longer than ${sessionOptions.timeoutMs} ms`,
      );
      let expired = false;
      let graceTimer: NodeJS.Timeout | undefined;
      const deadline = setTimeout(() => {
        expired = true;
        worker.killedFor ??= timeout;
        if (!worker.exited) worker.child.send({ type: 'interrupt' }, () => {});
        // The interrupt is a request; the kill is not.
        graceTimer = setTimeout(() => kill(worker, timeout), graceMs);
      }, sessionOptions.timeoutMs);
      const memoryLimit = new SandboxLimitError(
        'memory',
        `used more than ${Math.round(options.memoryBytes / 1024 / 1024)} MiB of memory`,
      );
      let polling = false;
      const watch = setInterval(() => {
        if (polling || worker.exited || worker.child.pid === undefined) return;
        polling = true;
        void rssBytes(worker.child.pid)
          .then((bytes) => {
            if (bytes > options.memoryBytes) kill(worker, memoryLimit);
          })
          .finally(() => {
            polling = false;
          });
      }, MEMORY_POLL_MS);
      const guard = async <T>(call: () => Promise<T>): Promise<T> => {
        if (expired) throw timeout;
        try {
          return await call();
        } catch (error) {
          // Once we stopped the process (or asked it to stop), whatever it answers — an
          // "Interrupted" statement, a dead channel — the reason is ours.
          if (worker.killedFor) throw worker.killedFor;
          throw error;
        }
      };
      try {
        await guard(() =>
          send(worker, {
            type: 'open',
            views,
            writable,
            memoryLimit: duckdbMemory,
            threads: options.threads ?? 1,
          }),
        );
        const session: SandboxSession = {
          query: (sql, limits) =>
            guard(() => send(worker, { type: 'query', sql, ...limits }) as Promise<SandboxRows>),
          run: (sql) =>
            guard(async () => {
              const value = (await send(worker, { type: 'run', sql })) as { changed: number };
              return value.changed;
            }),
        };
        return await work(session);
      } finally {
        clearTimeout(deadline);
        clearInterval(watch);
        if (expired) {
          // Whatever the statement is doing now, the process is not trusted to stop it.
          if (graceTimer) clearTimeout(graceTimer);
          kill(worker, timeout);
        } else if (!worker.exited) {
          await send(worker, { type: 'close' }).catch(() => kill(worker, timeout));
        }
        release(worker);
      }
    },

    async close() {
      closed = true;
      for (const waiter of waiting.splice(0))
        waiter.reject(new SandboxLimitError('closed', 'The server is stopping'));
      const exits = [...all].map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.exited) resolve();
            else worker.child.once('exit', () => resolve());
            kill(worker, new SandboxLimitError('closed', 'The server is stopping'));
          }),
      );
      await Promise.all(exits);
      rmSync(options.workDir, { recursive: true, force: true });
    },
  };
}
