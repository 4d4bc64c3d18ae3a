import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/platform/config.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import { serverProcesses } from './crash-server.ts';
import { childEnv, ROOT, type Spawned, spawnCli, spawnNode } from './spawn-server.ts';
import { createTestStorage, testBackends } from './test-platform.ts';

const processes = serverProcesses();
const tempDir = () => processes.dataDir('bc-proc-');
/** A data dir with the embedded database migrated already (no migrations at start). */
const migratedDir = () => processes.migratedDataDir('bc-proc-');
const track = processes.track;

/** One line, a non-zero exit, and no stack trace. */
async function expectCleanFailure(spawned: Spawned, pattern: RegExp) {
  const { code } = await spawned.exited;
  expect(code).toBe(1);
  const stderr = spawned.stderr().trim();
  expect(stderr).toMatch(pattern);
  expect(stderr.split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at |\.ts:\d+/);
}

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

  it('reports a port in use in one line', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const server = track(
        spawnCli(['serve'], childEnv({ BRAINCELLS_DATA_DIR: migratedDir(), PORT: String(port) })),
      );
      await expectCleanFailure(
        server,
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`),
      );
    } finally {
      blocker.close();
    }
  });

  it('reports an unusable data dir in one line', async () => {
    const file = path.join(tempDir(), 'not-a-directory');
    writeFileSync(file, 'x');
    const server = track(spawnCli(['serve'], childEnv({ BRAINCELLS_DATA_DIR: file, PORT: '0' })));
    await expectCleanFailure(server, /cannot use data directory/);
  });

  it('reports a corrupt database in one line', async () => {
    const dataDir = migratedDir();
    writeFileSync(path.join(dataDir, 'pg', 'global', 'pg_control'), 'garbage');
    const server = track(
      spawnCli(['serve'], childEnv({ BRAINCELLS_DATA_DIR: dataDir, PORT: '0' })),
    );
    await expectCleanFailure(server, /cannot open the embedded database/);
  });

  it('reports a DATABASE_URL that does not answer in one line', async () => {
    const server = track(
      spawnCli(
        ['serve'],
        childEnv({
          BRAINCELLS_DATA_DIR: tempDir(),
          PORT: '0',
          DATABASE_URL: 'postgres://nobody:secret-pw@127.0.0.1:1/none',
        }),
      ),
    );
    await expectCleanFailure(
      server,
      /cannot open PostgreSQL at postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none/,
    );
    expect(server.stderr()).not.toContain('secret-pw');
  });

  it('refuses invalid configuration naming the variable', async () => {
    const server = track(
      spawnCli(['serve'], childEnv({ BRAINCELLS_DATA_DIR: tempDir(), PORT: 'eighty' })),
    );
    await expectCleanFailure(
      server,
      /^braincells: invalid configuration: PORT: must be a whole number/,
    );
    const typo = track(spawnCli(['serve'], childEnv({ BRAINCELLS_DATADIR: '/tmp' })));
    await expectCleanFailure(typo, /BRAINCELLS_DATADIR: unknown setting/);
    const insecure = track(
      spawnCli(
        ['serve'],
        childEnv({ DATABASE_URL: 'postgres://app:secret-pw@127.0.0.1:5432/app?sslmode=no-verify' }),
      ),
    );
    await expectCleanFailure(insecure, /DATABASE_URL: sslmode=no-verify is refused/);
    expect(insecure.stderr()).not.toContain('secret-pw');
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

describe('the CLI', { timeout: 120_000 }, () => {
  it('prints help for every command and exits 0', async () => {
    for (const args of [
      ['--help'],
      ['serve', '--help'],
      ['db', '--help'],
      ['db', 'status', '--help'],
    ]) {
      const cli = track(spawnCli(args, childEnv()));
      expect((await cli.exited).code).toBe(0);
      expect(cli.stdout()).toContain('Usage: braincells');
    }
  });

  it('exits 2 on an unknown command', async () => {
    const cli = track(spawnCli(['frobnicate'], childEnv()));
    expect((await cli.exited).code).toBe(2);
    expect(cli.stderr()).toContain("unknown command 'frobnicate'");
  });

  it('migrates, reports status as JSON, and rolls back', async () => {
    const env = childEnv({ BRAINCELLS_DATA_DIR: tempDir() });
    const before = track(spawnCli(['db', 'status', '--json'], env));
    expect((await before.exited).code).toBe(0);
    const pending = JSON.parse(before.stdout()) as { name: string; appliedAt: string | null }[];
    expect(pending.length).toBeGreaterThan(0);
    expect(pending.every((m) => m.appliedAt === null)).toBe(true);

    const migrate = track(spawnCli(['db', 'migrate', '--json'], env));
    expect((await migrate.exited).code).toBe(0);
    expect(JSON.parse(migrate.stdout()).applied).toEqual(pending.map((m) => m.name));

    const rollback = track(spawnCli(['db', 'rollback', '--json'], env));
    expect((await rollback.exited).code).toBe(0);
    expect(JSON.parse(rollback.stdout()).rolledBack).toEqual([pending.at(-1)!.name]);

    const bad = track(spawnCli(['db', 'rollback', '--steps', 'zero'], env));
    expect((await bad.exited).code).toBe(2);
  });
});
