import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, vi } from 'vitest';
import { createTestStorage, type TestStorage } from '../../test/test-platform.ts';
import { type Database, openDatabase } from '../platform/db/database.ts';
import { CliError } from './cli-output.ts';

/** Opens the PGlite metadata database of a CLI test's data dir, runs `work`, closes it. */
export async function withCliDatabase<T>(
  storage: TestStorage,
  work: (db: Database['db']) => Promise<T>,
): Promise<T> {
  const database = await openDatabase({
    kind: 'pglite',
    dataDir: path.join(storage.dataDir, 'pg'),
  });
  try {
    return await work(database.db);
  } finally {
    await database.close();
  }
}

/**
 * A migrated PGlite data dir for the enclosing file or `describe`, seeded by `seed`, that the
 * commands run in this process open through the environment (`env` adds variables, e.g. a
 * provider's key and base URL). Returns a getter: the storage exists only once tests run.
 */
export function cliDataDirPerSuite(
  options: {
    seed?: (db: Database['db']) => Promise<void>;
    env?: () => Record<string, string>;
  } = {},
): () => TestStorage {
  let storage: TestStorage | undefined;
  beforeAll(async () => {
    const opened = await createTestStorage('pglite');
    storage = opened;
    if (options.seed) await withCliDatabase(opened, options.seed);
    vi.stubEnv('BRAINCELLS_DATA_DIR', opened.dataDir);
    vi.stubEnv('LOG_LEVEL', 'silent');
    // This test's data dir is PGlite; a DATABASE_URL from the environment must not win.
    vi.stubEnv('DATABASE_URL', '');
    for (const [name, value] of Object.entries(options.env?.() ?? {})) vi.stubEnv(name, value);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await storage?.dispose();
  });
  return () => {
    if (!storage) throw new Error('the CLI data dir exists only inside tests');
    return storage;
  };
}

/**
 * Runs `braincells …args` in this process with the commands `register` adds, and returns what
 * it wrote to stdout and what it threw (commander exits by throwing here). Its stderr (progress
 * lines) is dropped.
 */
export async function runCliCommand(
  register: (program: Command) => void,
  args: string[],
): Promise<{ out: string; error: unknown }> {
  const program = new Command('braincells').exitOverride();
  register(program);
  const chunks: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    chunks.push(String(chunk));
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  let error: unknown;
  try {
    await program.parseAsync(['node', 'braincells', ...args]);
  } catch (caught) {
    error = caught;
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return { out: chunks.join(''), error };
}

/**
 * `runCliCommand` on `dataDir` with the environment a spawned `braincells` gets there (no
 * DATABASE_URL from ours, silent logs, `env` added), restored afterwards; `code` is the exit
 * code src/cli/main.ts gives what the command threw.
 */
export async function runCliCommandOn(
  dataDir: string,
  register: (program: Command) => void,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ out: string; error: unknown; code: number }> {
  const stubbed = { BRAINCELLS_DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent', ...env };
  const previous = Object.fromEntries(
    Object.keys(stubbed).map((name) => [name, process.env[name]]),
  );
  Object.assign(process.env, stubbed);
  try {
    const { out, error } = await runCliCommand(register, args);
    const code = error === undefined ? 0 : error instanceof CliError ? error.exitCode : 1;
    return { out, error, code };
  } finally {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
