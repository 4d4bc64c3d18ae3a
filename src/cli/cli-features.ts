// The features, the platform and the database drivers are imported when a command runs, not
// when the program is built: `braincells --help` and every spawned command pay only for what
// they use (each value import of features.ts costs the whole server's module graph).
import type { FeatureOptions, Features } from '../features.ts';
import { type Config, loadConfig } from '../platform/config.ts';
import { lockDataDir } from '../platform/data-dir-lock.ts';
import type { Database } from '../platform/db/database.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import type { Platform } from '../platform/platform.ts';

/** The logger of one command: JSON on stderr, `LOG_LEVEL` (default warn). */
export function cliLogger(): Logger {
  return createLogger({
    level: process.env.LOG_LEVEL ?? 'warn',
    format: 'json',
    destination: process.stderr as never,
  });
}

/**
 * Opens the platform without job workers (this process does the work itself) and the features
 * over it (src/features.ts: each built on first use), runs `work`, then closes both.
 */
export async function withFeatures<T>(
  work: (features: Features, platform: Platform) => Promise<T>,
  options: FeatureOptions = {},
): Promise<T> {
  const config = { ...loadConfig(), jobsEnabled: false };
  const logger = cliLogger();
  const [{ openPlatform }, { createFeatures }] = await Promise.all([
    import('../platform/platform.ts'),
    import('../features.ts'),
  ]);
  const platform = await openPlatform(config, logger);
  try {
    const features = createFeatures(platform, { useJobs: false, monitorRoots: [], ...options });
    try {
      return await work(features, platform);
    } finally {
      await features.stopWork();
      await features.close();
    }
  } finally {
    await platform.close();
  }
}

/**
 * Opens the configured database alone (no platform, no migrations) for one command, runs
 * `work`, then closes it. PGlite needs the data-dir lock: one process at a time.
 */
export async function withDatabase<T>(
  work: (database: Database, config: Config) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const lock = config.databaseUrl ? undefined : lockDataDir(config.dataDir);
  try {
    const [{ openDatabase }, { pgliteDir }] = await Promise.all([
      import('../platform/db/database.ts'),
      import('../platform/platform.ts'),
    ]);
    const database = config.databaseUrl
      ? await openDatabase({ kind: 'postgres', connectionString: config.databaseUrl, poolSize: 2 })
      : await openDatabase({ kind: 'pglite', dataDir: pgliteDir(config) });
    try {
      return await work(database, config);
    } finally {
      await database.close();
    }
  } finally {
    lock?.release();
  }
}
