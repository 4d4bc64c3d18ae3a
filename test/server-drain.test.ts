import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/platform/logger.ts';
import { startServer } from '../src/server.ts';
import { createTestStorage, LogCapture, type TestStorage, testConfig } from './test-platform.ts';

describe('graceful shutdown', () => {
  let storage: TestStorage | undefined;
  afterEach(async () => {
    await storage?.dispose();
  });

  // Resolved when the slow route starts handling a request, so close() surely comes after.
  let requestArrived: () => void = () => {};
  // The slow route answers once this is resolved (never, unless the test says so).
  let finishRequest: () => void = () => {};

  async function start(shutdownTimeoutMs: number) {
    storage = await createTestStorage('pglite');
    const logs = new LogCapture();
    const server = await startServer(
      testConfig(storage, { shutdownTimeoutMs }),
      createLogger({ level: 'info', format: 'json', destination: logs }),
      {
        configure: (app) => {
          app.get('/test/slow', { config: { public: true } }, async () => {
            const finished = new Promise<void>((resolve) => {
              finishRequest = resolve;
            });
            requestArrived();
            await finished;
            return { finished: true };
          });
        },
      },
    );
    return server;
  }

  it('lets an in-flight request finish, then refuses new connections', async () => {
    const server = await start(5_000);
    const arrived = new Promise<void>((resolve) => {
      requestArrived = resolve;
    });
    const inFlight = fetch(`${server.url}/test/slow`);
    await arrived;
    const closed = server.close();
    // The request ends only after shutdown began: it was drained, not finished before.
    finishRequest();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ finished: true });
    await closed;
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('cuts requests still running after the drain limit', async () => {
    const server = await start(300);
    const arrived = new Promise<void>((resolve) => {
      requestArrived = resolve;
    });
    // Never finished by the test: only the drain limit ends it.
    const stuck = fetch(`${server.url}/test/slow`).then(
      () => 'answered',
      () => 'cut',
    );
    await arrived;
    // close() returns at all only because the drain limit cut the request.
    await server.close();
    expect(await stuck).toBe('cut');
  });
});
