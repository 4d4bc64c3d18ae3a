import { type Config, ConfigError, loadConfig } from './platform/config.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import { startServer } from './server.ts';

/**
 * `braincells serve`: the only place with start-up side effects. Failures print one line
 * (the stack only at LOG_LEVEL=debug) and exit non-zero; SIGTERM/SIGINT drain and exit 0.
 */
export async function serve(overrides: Partial<Pick<Config, 'host' | 'port'>> = {}): Promise<void> {
  let config: Config;
  try {
    config = { ...loadConfig(), ...overrides };
  } catch (error) {
    if (error instanceof ConfigError) exitWith(`invalid configuration: ${error.message}`);
    throw error;
  }
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    logPrompts: config.logPrompts,
  });

  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    fail(logger, config, error);
  }
  logger.info(
    { url: server.url, dataDir: config.dataDir, role: config.role, mode: config.mode },
    `Brain Cells is ready at ${server.url}`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await server.close();
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      logger.flush();
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function fail(logger: Logger, config: Config, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  if (config.logLevel === 'debug' || config.logLevel === 'trace') {
    logger.debug({ err: error }, 'start-up failed');
  }
  logger.flush();
  exitWith(message);
}

function exitWith(message: string): never {
  process.stderr.write(`braincells: ${message}\n`);
  process.exit(1);
}
