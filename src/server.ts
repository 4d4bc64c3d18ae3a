import { buildApp } from './app.ts';
import type { Config } from './platform/config.ts';
import type { Logger } from './platform/logger.ts';
import { openPlatform, StartupError } from './platform/platform.ts';

export interface RunningServer {
  url: string;
  /** Stops accepting, drains in-flight requests (up to the shutdown timeout), stops jobs, closes storage. */
  close(): Promise<void>;
}

export type BuiltApp = Awaited<ReturnType<typeof buildApp>>;

export interface StartServerOptions {
  /** Adds routes before the app is ready (tests use it for slow endpoints). */
  configure?: (app: BuiltApp) => void | Promise<void>;
}

/** Opens storage, builds the app, starts the job workers and listens. */
export async function startServer(
  config: Config,
  logger: Logger,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const platform = await openPlatform(config, logger);
  let app: BuiltApp;
  try {
    app = await buildApp(platform);
    await options.configure?.(app);
    await platform.jobs.start();
    if (platform.jobs.started && config.jobsEnabled)
      await platform.runs.startRecovery({ embedded: platform.database.kind === 'pglite' });
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await platform.close().catch(() => {});
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new StartupError(`cannot listen on ${config.host}:${config.port}: the port is in use`, {
        cause: error,
      });
    }
    if (code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new StartupError(`cannot listen on ${config.host}:${config.port}: ${code}`, {
        cause: error,
      });
    }
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        // In-flight requests get shutdownTimeoutMs; then their connections are cut.
        const timer = setTimeout(() => app.server.closeAllConnections(), config.shutdownTimeoutMs);
        timer.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
          await platform.close();
        }
      })();
      return closing;
    },
  };
}
