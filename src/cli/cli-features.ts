import type { FeatureOptions, Features } from '../features.ts';
import { createFeatures } from '../features.ts';
import { loadConfig } from '../platform/config.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import { openPlatform, type Platform } from '../platform/platform.ts';

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
