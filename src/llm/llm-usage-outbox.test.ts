import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestStorage, type TestStorage } from '../../test/test-platform.ts';
import { type Database, openDatabase } from '../platform/db/database.ts';
import { createLogger } from '../platform/logger.ts';
import { createProject, usageRowFixture } from './llm-test-env.ts';
import { readSegment, UsageOutbox } from './llm-usage-outbox.ts';
import { UsageRecorder } from './llm-usage-recorder.ts';
import { createUsageStore, type UsageRow } from './llm-usage-store.ts';

const logger = createLogger({ level: 'silent', format: 'json' });

describe('the usage outbox (embedded PGlite)', () => {
  let storage: TestStorage;
  let database: Database;
  let projectId: string;
  const dirs: string[] = [];
  const recorders: UsageRecorder[] = [];

  beforeAll(async () => {
    storage = await createTestStorage('pglite');
    database = await openDatabase({ kind: 'pglite', dataDir: path.join(storage.dataDir, 'pg') });
    projectId = await createProject(database);
  });
  afterEach(async () => {
    // A recorder a test "killed" is never closed: only its timers stop with the test.
    for (const recorder of recorders.splice(0)) await recorder.close().catch(() => {});
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await database?.close();
    await storage?.dispose();
  });

  const outboxDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-usage-outbox-'));
    dirs.push(dir);
    return dir;
  };
  const recorderOn = (dir: string, store = createUsageStore(database.db), flushMs = 60_000) =>
    new UsageRecorder({ store, logger, flushMs, outbox: new UsageOutbox(dir) });
  const committed = async (rows: readonly UsageRow[]) =>
    (
      await database.db
        .selectFrom('llm_calls')
        .select('id')
        .where(
          'id',
          'in',
          rows.map((row) => row.id),
        )
        .execute()
    ).map((row) => row.id);
  const dailyCalls = async (feature: string) => {
    const rows = await database.db
      .selectFrom('llm_usage_daily')
      .select(sql<number>`sum(calls)::int`.as('calls'))
      .where('project_id', '=', projectId)
      .where('feature', '=', feature)
      .execute();
    return rows[0]?.calls ?? 0;
  };
  const segmentsIn = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.jsonl'));
  /**
   * After a flush: every one of `rows` (all of one feature) is committed, the feature's daily
   * rollup counts `calls`, and no segment is left in `dir`.
   */
  const expectAllCommitted = async (dir: string, rows: UsageRow[], calls: number) => {
    expect((await committed(rows)).sort()).toEqual(rows.map((row) => row.id).sort());
    expect(await dailyCalls(rows[0]!.feature)).toBe(calls);
    expect(segmentsIn(dir)).toEqual([]);
  };

  it('answers once the row is in the outbox file, commits it with the next batch, then deletes the segment', async () => {
    const dir = outboxDir();
    const recorder = recorderOn(dir);
    const rows = [1, 2, 3].map(() => usageRowFixture(projectId, { feature: 'outbox-batch' }));
    for (const row of rows) await recorder.add(row, 'outbox');

    // Safe, but not yet in the database: the rows are in the one segment, nothing is written.
    expect(await committed(rows)).toEqual([]);
    const [segment] = segmentsIn(dir);
    expect(segmentsIn(dir)).toHaveLength(1);
    expect(readSegment(path.join(dir, segment as string)).rows).toEqual(rows);

    await recorder.flush();
    await expectAllCommitted(dir, rows, 3);
    await recorder.close();
  });

  it('commits outbox rows within flushMs without anyone flushing', async () => {
    const dir = outboxDir();
    const recorder = recorderOn(dir, createUsageStore(database.db), 10);
    recorders.push(recorder);
    const row = usageRowFixture(projectId, { feature: 'outbox-timer' });
    await recorder.add(row, 'outbox');
    await expect.poll(() => committed([row]), { timeout: 10_000 }).toEqual([row.id]);
    await expect.poll(() => segmentsIn(dir), { timeout: 10_000 }).toEqual([]);
  });

  it('still commits `database` rows before add() resolves', async () => {
    const recorder = recorderOn(outboxDir());
    recorders.push(recorder);
    const row = usageRowFixture(projectId, { feature: 'outbox-database' });
    await recorder.add(row, 'database');
    expect(await committed([row])).toEqual([row.id]);
  });

  it('replays the rows a killed process left, once each, skipping those it had committed', async () => {
    const dir = outboxDir();
    const store = createUsageStore(database.db);
    const dead = recorderOn(dir, store);
    const rows = [1, 2, 3, 4].map(() => usageRowFixture(projectId, { feature: 'outbox-replay' }));
    for (const row of rows) await dead.add(row, 'outbox');
    // It died after committing the first two (the segment was not deleted yet): written
    // directly, as its last flush would have.
    await store.insert(rows.slice(0, 2));
    expect(await dailyCalls('outbox-replay')).toBe(2);

    // The next start: a new recorder over the same folder.
    const next = recorderOn(dir, store);
    await next.flush();
    // The rollup counts every call once: the two committed rows were not written again.
    await expectAllCommitted(dir, rows, 4);
    await next.close();
  });

  it('skips a line cut short at the end of a segment and replays the rest', async () => {
    const dir = outboxDir();
    const dead = recorderOn(dir);
    const row = usageRowFixture(projectId, { feature: 'outbox-torn' });
    await dead.add(row, 'outbox');
    const [segment] = segmentsIn(dir);
    appendFileSync(path.join(dir, segment as string), '{"id":"0193a0b2-'); // the machine went down mid-write

    const next = recorderOn(dir);
    await next.flush();
    expect(await committed([row])).toEqual([row.id]);
    expect(segmentsIn(dir)).toEqual([]);
    await next.close();
  });

  it('keeps outbox rows on disk while the database refuses them; a restart then writes them', async () => {
    const dir = outboxDir();
    const store = createUsageStore(database.db);
    const down = recorderOn(dir, {
      ...store,
      insert: async () => {
        throw new Error('database is down');
      },
    });
    recorders.push(down);
    const row = usageRowFixture(projectId, { feature: 'outbox-down' });
    await down.add(row, 'outbox');
    await down.flush();
    expect(down.pending).toBe(1);
    expect(await committed([row])).toEqual([]);
    expect(segmentsIn(dir)).toHaveLength(1);

    const next = recorderOn(dir, store);
    await next.flush();
    expect(await committed([row])).toEqual([row.id]);
    await next.close();
  });

  it('drops a row whose project was deleted while it waited, and writes the others', async () => {
    const dir = outboxDir();
    const gone = await createProject(database, 'Deleted while its row waited');
    const recorder = recorderOn(dir);
    const orphan = usageRowFixture(gone, { feature: 'outbox-orphan' });
    const kept = usageRowFixture(projectId, { feature: 'outbox-orphan' });
    await recorder.add(orphan, 'outbox');
    await recorder.add(kept, 'outbox');
    await sql`delete from project where id = ${gone}`.execute(database.db);

    await recorder.flush();
    expect(await committed([orphan, kept])).toEqual([kept.id]);
    expect(recorder.pending).toBe(0);
    expect(segmentsIn(dir)).toEqual([]);
    await recorder.close();
  });

  it('commits at once when the outbox file cannot be written', async () => {
    const dir = outboxDir();
    const recorder = recorderOn(dir);
    recorders.push(recorder);
    rmSync(dir, { recursive: true, force: true }); // the folder is gone: open fails
    const row = usageRowFixture(projectId, { feature: 'outbox-unwritable' });
    await recorder.add(row, 'outbox');
    expect(await committed([row])).toEqual([row.id]);
  });

  it('writes segments readable only by their owner', async () => {
    const dir = outboxDir();
    const recorder = recorderOn(dir);
    await recorder.add(usageRowFixture(projectId, { feature: 'outbox-mode' }), 'outbox');
    const [segment] = segmentsIn(dir);

    expect(statSync(path.join(dir, segment as string)).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(dir, segment as string), 'utf8').endsWith('\n')).toBe(true);
    await recorder.close();
  });
});
