import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from './database.ts';

/**
 * PGlite's Postgres runs on the server's main thread and writes through synchronous file calls:
 * a WAL segment zero-filled at creation (16 MB) stopped every request for 50–100 ms. The
 * embedded database creates its segments by their last byte (`wal_init_zero=off`).
 */
describe('the embedded database’s WAL', () => {
  let dir: string;
  let database: Database;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bc-wal-'));
    database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'pg') });
  });
  afterAll(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a new segment without writing 16 MB of zeros into it', async () => {
    const { db } = database;
    const walDir = path.join(dir, 'pg', 'pg_wal');
    const segments = () =>
      readdirSync(walDir)
        .filter((name) => /^[0-9A-F]{24}$/.test(name))
        .sort();
    const before = segments();
    await sql`create table wal_probe (n integer)`.execute(db);
    // The next record goes to a segment that does not exist yet: it is created now.
    await sql`select pg_switch_wal()`.execute(db);
    await sql`insert into wal_probe values (1)`.execute(db);
    const created = segments().filter((name) => !before.includes(name));
    expect(created).toHaveLength(1);
    const file = statSync(path.join(walDir, created[0]!));
    expect(file.size).toBe(16 * 1024 * 1024);
    // Zero-filled, all 16 MiB would be allocated; created by its last byte, only what the
    // records since the switch took (and that byte's block).
    expect(file.blocks * 512).toBeLessThan(1024 * 1024);
  });
});
