import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/platform/logger.ts';
import { startServer } from '../src/server.ts';
import { createTestStorage, LogCapture, type TestStorage, testConfig } from './test-platform.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('graceful shutdown', () => {
  let storage: TestStorage | undefined;
  afterEach(async () => {
    await storage?.dispose();
  });

  // Resolved when the slow route starts handling a request, so close() surely comes after.
  let requestArrived: () => void = () => {};

  async function start(shutdownTimeoutMs: number) {
    storage = await createTestStorage('pglite');
    const logs = new LogCapture();
    const server = await startServer(
      testConfig(storage, { shutdownTimeoutMs }),
      createLogger({ level: 'info', format: 'json', destination: logs }),
      {
        configure: (app) => {
          app.get('/test/slow', { config: { public: true } }, async (request) => {
            const { ms } = request.query as { ms: string };
            requestArrived();
            await sleep(Number(ms));
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
    const inFlight = fetch(`${server.url}/test/slow?ms=400`);
    await arrived;
    const closed = server.close();
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
    const stuck = fetch(`${server.url}/test/slow?ms=20000`).then(
      () => 'answered',
      () => 'cut',
    );
    await arrived;
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await stuck).toBe('cut');
  });
});
