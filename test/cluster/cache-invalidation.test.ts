import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { FAKE_API_KEY } from '../../src/llm/llm-test-env.ts';
import { AppError } from '../../src/platform/app-error.ts';
import { eventually } from '../eventually.ts';
import { createProject, createSignedInUser } from '../factories.ts';
import { registerTestSecret } from '../leak-scan.ts';
import { createTestApp, openTestPlatform, type TestApp, testBackends } from '../test-platform.ts';

// Two servers of one deployment as two apps in this process, each with its own pool, event
// listener and caches, on one PostgreSQL database (issue #20 item 6). Their clocks are frozen:
// a cached entry never expires by itself here, so only the other server's notice can drop it.
for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`cached metadata of two servers on ${backend}`, () => {
    const frozen = Date.now();
    const features = { gateway: { now: () => frozen } };
    let first: TestApp;
    let second: { app: Awaited<ReturnType<typeof buildApp>>; close(): Promise<void> };

    beforeAll(async () => {
      first = await createTestApp({ backend, features });
      // The same database, a data dir of its own (a data dir is one process's).
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'braincells-second-'));
      const platform = await openTestPlatform({ ...first.storage, dataDir });
      const app = await buildApp(platform, features);
      await app.ready();
      second = {
        app,
        close: async () => {
          await app.close();
          await platform.close();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    });
    afterAll(async () => {
      await second?.close();
      await first?.close();
    });

    const outcome = (promise: Promise<unknown>) =>
      promise.then(
        () => 'accepted',
        (error: unknown) => (error instanceof AppError ? error.code : String(error)),
      );

    it('a gateway key revoked through one server is refused by the other, which had it cached', async () => {
      const owner = await createSignedInUser(first);
      const project = await createProject(first, owner);
      const provider = await first.app.llm.admin.createProvider(owner.actor, project.id, {
        name: 'unused',
        kind: 'openai',
        baseUrl: 'http://127.0.0.1:9/v1',
        apiKey: FAKE_API_KEY,
      });
      const gateway = (app: TestApp['app']) => app.gateway.service;
      const created = await gateway(first.app).createKey(owner.actor, project.id, {
        name: 'shared',
        models: [{ name: 'm', provider: provider.id, model: 'gpt-4o-mini' }],
      });
      registerTestSecret('api-key', created.key);
      expect((await gateway(second.app).authenticate(created.key)).id).toBe(created.id);

      await gateway(first.app).revokeKey(owner.actor, project.id, created.id);
      expect(await outcome(gateway(first.app).authenticate(created.key))).toBe('UNAUTHENTICATED');
      await eventually(
        () => outcome(gateway(second.app).authenticate(created.key)),
        (code) => code === 'UNAUTHENTICATED',
        { what: 'the revoked key refused by the second server' },
      );
    });
  });
}
