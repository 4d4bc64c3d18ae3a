import { ConfigError, loadConfig } from './config.ts';

/** The ConfigError that loading `env` (with no .env file) fails with; anything else fails the test. */
export function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, {});
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}
