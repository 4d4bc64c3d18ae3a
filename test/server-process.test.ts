import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/platform/config.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import { expectCleanFailure, serverProcesses } from './crash-server.ts';
import { childEnv, ROOT, spawnCli, spawnNode } from './spawn-server.ts';
import { createTestStorage, testBackends } from './test-platform.ts';

// The server running, crashing and restarting; its start-up refusals and the other CLI commands
// are in cli-process.test.ts.
const processes = serverProcesses();
const tempDir = () => processes.dataDir('bc-proc-');
/** A data dir with the embedded database migrated already (no migrations at start). */
const migratedDir = () => processes.migratedDataDir('bc-proc-');
const track = processes.track;

// Each test spawns real processes; on a loaded 2-core machine one start can take 10 s or more.
describe('the server process', { timeout: 120_000 }, () => {
  it('starts on the embedded defaults, answers /readyz, and exits 0 on SIGTERM', async () => {
    const dataDir = tempDir();
    const server = track(
      spawnCli(['serve'], childEnv({ BRAINCELLS_DATA_DIR: dataDir, PORT: '0' })),
    );
    const url = await server.ready();
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    expect(code).toBe(0);
    expect(server.stdout()).toContain('"msg":"stopped"');
  });

  it('refuses a second server on the same data dir', async () => {
    const dataDir = migratedDir();
    const first = track(spawnCli(['serve'], childEnv({ BRAINCELLS_DATA_DIR: dataDir, PORT: '0' })));
    await first.ready();
    const second = track(
      spawnCli(['serve'], childEnv({ BRAINCELLS_DATA_DIR: dataDir, PORT: '0' })),
    );
    await expectCleanFailure(second, /in use by another Brain Cells process/);
    // The first one is unharmed.
    const url = await first.ready();
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('loses no committed row to kill -9, and restarts over the stale lock', async () => {
    const dataDir = migratedDir();
    const env = childEnv({ BRAINCELLS_DATA_DIR: dataDir });

    const writer = track(spawnNode([path.join(ROOT, 'test/fixtures/write-rows.ts')], env));
    await expect
      .poll(() => (writer.stdout().match(/committed/g) ?? []).length, { timeout: 30_000 })
      .toBeGreaterThan(10);
    writer.child.kill('SIGKILL');
    await writer.exited;
    const committed = [...writer.stdout().matchAll(/committed (\d+)/g)].map((match) =>
      Number(match[1]),
    );

    const config = { ...loadConfig({}, {}), dataDir, migrateOnStart: false };
    const platform = await openPlatform(config, createLogger({ level: 'silent', format: 'json' }));
    try {
      const { rows } = await sql<{ key: string }>`
        select key from instance_setting where key like 'durability-%'`.execute(
        platform.database.db,
      );
      const stored = new Set(rows.map((row) => Number(row.key.slice('durability-'.length))));
      for (const n of committed) expect(stored.has(n)).toBe(true);
      const duck = await platform.duckdb.query<{ n: number }>('select n from durability');
      const duckStored = new Set(duck.map((row) => row.n));
      for (const n of committed) expect(duckStored.has(n)).toBe(true);
    } finally {
      await platform.close();
    }

    const server = track(spawnCli(['serve'], { ...env, PORT: '0' }));
    const url = await server.ready();
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });
});

for (const backend of testBackends().filter((name) => name === 'postgres')) {
  describe(`a worker process on ${backend}`, { timeout: 120_000 }, () => {
    it('runs with BRAINCELLS_ROLE=worker, answers the health routes and nothing else', async () => {
      const storage = await createTestStorage(backend);
      try {
        const worker = track(
          spawnCli(
            ['serve'],
            childEnv({
              BRAINCELLS_DATA_DIR: storage.dataDir,
              DATABASE_URL: storage.databaseUrl!,
              BRAINCELLS_ROLE: 'worker',
              BRAINCELLS_MIGRATE_ON_START: 'false',
              PORT: '0',
            }),
          ),
        );
        const url = await worker.ready();
        expect(worker.stdout()).toMatch(/"role":"worker","mode":"postgres"/);
        expect((await fetch(`${url}/readyz`)).status).toBe(200);
        expect((await fetch(`${url}/metrics`)).status).toBe(200);
        const api = await fetch(`${url}/api/projects`);
        expect(api.status).toBe(404);
        expect(((await api.json()) as { error: { message: string } }).error.message).toContain(
          'BRAINCELLS_ROLE=worker',
        );
        worker.child.kill('SIGTERM');
        expect((await worker.exited).code).toBe(0);
      } finally {
        await storage.dispose();
      }
    });
  });
}
