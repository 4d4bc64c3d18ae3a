import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createTestStorage,
  LogCapture,
  type TestStorage,
  testConfig,
} from '../../test/test-platform.ts';
import { createLogger } from '../platform/logger.ts';
import { type BuiltApp, startServer } from '../server.ts';

describe('first run of a real server', () => {
  let storage: TestStorage | undefined;
  afterEach(async () => {
    await storage?.dispose();
  });

  async function start(logs: LogCapture) {
    let app: BuiltApp | undefined;
    const server = await startServer(
      testConfig(storage!),
      createLogger({ level: 'info', format: 'json', destination: logs }),
      {
        configure: (built) => {
          app = built;
        },
      },
    );
    return { server, app: app! };
  }

  it('logs a one-time setup link that works from another machine, and only while no account exists', async () => {
    storage = await createTestStorage('pglite');
    const logs = new LogCapture();
    const first = await start(logs);
    try {
      // Logged once the server listens (an onListen hook, not awaited by listen()).
      const line = await vi.waitFor(() => {
        const found = logs.lines.find((entry) => typeof entry.setupUrl === 'string');
        if (!found) throw new Error('no setup line yet');
        return found;
      });
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
      await new Promise((resolve) => setTimeout(resolve, 300)); // let its onListen hook run
      expect(logs.lines.filter((entry) => typeof entry.setupUrl === 'string')).toHaveLength(1);
    } finally {
      await second.server.close();
    }
  });
});
