import { afterEach, describe, expect, it } from 'vitest';
import {
  createTestStorage,
  LogCapture,
  type TestStorage,
  testConfig,
} from '../../test/test-platform.ts';
import { createLogger } from '../platform/logger.ts';
import { type BuiltApp, startServer } from '../server.ts';

// A real server start and full-cost password hashes: on a loaded 2-core machine, well over 30 s.
describe('first run of a real server', { timeout: 120_000 }, () => {
  let storage: TestStorage | undefined;
  afterEach(async () => {
    await storage?.dispose();
  });

  /**
   * A real server on the storage. `listened` settles once every onListen hook has run: Fastify
   * runs them one after another, in the order added, and ours is added after the app's own.
   */
  async function start(logs: LogCapture) {
    let app: BuiltApp | undefined;
    let listened!: () => void;
    const hooksRan = new Promise<void>((resolve) => {
      listened = resolve;
    });
    const server = await startServer(
      testConfig(storage!),
      createLogger({ level: 'info', format: 'json', destination: logs }),
      {
        configure: (built) => {
          app = built;
          built.addHook('onListen', async () => listened());
        },
      },
    );
    return { server, app: app!, listened: hooksRan };
  }

  it('logs a one-time setup link that works from another machine, and only while no account exists', async () => {
    storage = await createTestStorage('pglite');
    const logs = new LogCapture();
    const first = await start(logs);
    try {
      // Logged once the server listens (an onListen hook, not awaited by listen()).
      await first.listened;
      const line = logs.lines.find((entry) => typeof entry.setupUrl === 'string');
      expect(line?.msg).toContain('No account exists yet');
      const token = new URL(line!.setupUrl as string).hash.replace('#setup-token=', '');
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const response = await first.app.inject({
        method: 'POST',
        url: '/api/auth/setup',
        remoteAddress: '203.0.113.7',
        payload: {
          email: 'first@example.test',
          password: 'a long first password',
          setupToken: token,
        },
      });
      expect(response.statusCode).toBe(201);
      expect(response.json().user.isAdmin).toBe(true);
    } finally {
      await first.server.close();
    }

    const second = await start(logs);
    try {
      expect(await second.app.services.auth.setupNeeded()).toBe(false);
      await second.listened; // its setup-link hook has run, and logged nothing
      expect(logs.lines.filter((entry) => typeof entry.setupUrl === 'string')).toHaveLength(1);
    } finally {
      await second.server.close();
    }
  });
});
