import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { registerTestSecret } from '../../../test/leak-scan.ts';
import type { TestApp } from '../../../test/test-platform.ts';
import { type FakeLlm, startFakeLlm } from '../../../tools/fake-llm/fake-llm-server.ts';
import { loadConfig } from '../config.ts';

/**
 * What tests of several servers in one process share (a test helper, not loaded by the app):
 * a fake LLM, one storage folder, and the settings every server gets — the deployment secret
 * (it signs forwarded requests and hand-offs) and fast LLM retries.
 */
export async function openServersSetup(options: {
  secret: string;
  fakeKey: string;
  /** Prefix of the shared folder's name under the temporary folder. */
  folder: string;
}) {
  registerTestSecret('provider-key', options.fakeKey);
  const fake: FakeLlm = await startFakeLlm({ apiKey: options.fakeKey });
  const shared = mkdtempSync(path.join(os.tmpdir(), options.folder));
  const base = loadConfig({}, {});
  return {
    fake,
    shared,
    config: {
      secret: { current: options.secret, previous: [] },
      storageDir: shared,
      logLevel: 'info' as const,
      llm: { ...base.llm, retryBaseMs: 5, retryMaxMs: 50, usageFlushMs: 20 },
    },
    async close() {
      await fake.close();
      rmSync(shared, { recursive: true, force: true });
    },
  };
}

/** Listens on a free loopback port, which becomes the server's internal URL; returns it. */
export async function listenInternally(server: TestApp): Promise<string> {
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  server.platform.config.datasets.internalUrl = url;
  return url;
}
