import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCleanFailure, serverProcesses } from './crash-server.ts';
import { childEnv, spawnCli } from './spawn-server.ts';

// The server process's start-up refusals and the CLI's other commands; the server running,
// crashing and restarting are in server-process.test.ts (two files, so that two workers share
// the spawned processes' time).
const processes = serverProcesses();
const tempDir = () => processes.dataDir('bc-proc-');
/** A data dir with the embedded database migrated already (no migrations at start). */
const migratedDir = () => processes.migratedDataDir('bc-proc-');
const track = processes.track;

// Each test spawns real processes; on a loaded 2-core machine one start can take 10 s or more.
describe('the server process refusing to start', { timeout: 120_000 }, () => {
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
});

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
