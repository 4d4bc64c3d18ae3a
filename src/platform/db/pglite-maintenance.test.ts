import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { platformsPerTest } from '../../../test/per-suite.ts';
import { testBackends } from '../../../test/test-platform.ts';
import { createJobQueue } from '../jobs/job-queue.ts';
import type { Database } from './database.ts';
import {
  PGLITE_MAINTENANCE_JOB,
  registerPgliteMaintenance,
  runPgliteMaintenance,
} from './pglite-maintenance.ts';

interface ProbeStats {
  dead: number;
  vacuums: number;
  analyzes: number;
}

/** A scratch table with `rows` rows, and a reader of its counters. */
async function probeTable(database: Database, name: string, rows: number) {
  const { db } = database;
  await sql`create table ${sql.id(name)} (id int primary key, v text)`.execute(db);
  await sql`insert into ${sql.id(name)} select g, 'x' from generate_series(1, ${rows}) g`.execute(
    db,
  );
  const stats = async (): Promise<ProbeStats> => {
    await sql`select pg_stat_force_next_flush()`.execute(db);
    const { rows: found } = await sql<ProbeStats>`
      select n_dead_tup::int as dead, vacuum_count::int as vacuums, analyze_count::int as analyzes
      from pg_stat_user_tables where relname = ${name}`.execute(db);
    return found[0]!;
  };
  return { stats, name: `public.${name}` };
}

describe('PGlite maintenance (no autovacuum there)', () => {
  const platforms = platformsPerTest('pglite');

  it('vacuums a table with many dead rows, analyzes a changed one, and leaves quiet ones', async () => {
    const { database } = await platforms.open({ jobsEnabled: false });
    const churned = await probeTable(database, 'probe_churned', 5_000);
    const grown = await probeTable(database, 'probe_grown', 2_000);
    const quiet = await probeTable(database, 'probe_quiet', 20);
    const baseline = await runPgliteMaintenance(database.db);
    // New tables: their statistics gathered (the 20-row one is under the threshold).
    expect(baseline.analyzed).toEqual(expect.arrayContaining([churned.name, grown.name]));
    expect(baseline.analyzed).not.toContain(quiet.name);
    expect(baseline.vacuumed).not.toContain(churned.name);
    // Dead rows past 50 + 20 % of the live ones: vacuumed (and analyzed with it). Below both
    // thresholds: left alone.
    await sql`delete from probe_churned where id <= 3000`.execute(database.db);
    await sql`delete from probe_quiet where id <= 10`.execute(database.db);

    const first = await runPgliteMaintenance(database.db);
    expect(first.vacuumed).toContain(churned.name);
    expect([...first.vacuumed, ...first.analyzed]).not.toContain(grown.name);
    expect([...first.vacuumed, ...first.analyzed]).not.toContain(quiet.name);
    expect(await churned.stats()).toMatchObject({ dead: 0, vacuums: 1 });
    expect((await quiet.stats()).dead).toBe(10);

    // Rows added since the last statistics, and no dead ones: analyzed only.
    await sql`insert into probe_grown select g, 'y' from generate_series(2001, 4000) g`.execute(
      database.db,
    );
    const second = await runPgliteMaintenance(database.db);
    expect(second.analyzed).toContain(grown.name);
    expect(second.vacuumed).not.toContain(churned.name);
    expect((await grown.stats()).vacuums).toBe(0);
  });

  it('runs as a job that queues its next pass', async () => {
    const platform = await platforms.open({ jobsEnabled: false });
    const queue = createJobQueue({
      database: platform.database,
      logger: platform.logger,
      work: true,
      pollingIntervalSeconds: 3_600,
    });
    registerPgliteMaintenance({
      database: platform.database,
      jobs: queue,
      logger: platform.logger,
    });
    const churned = await probeTable(platform.database, 'probe_job', 1_000);
    await sql`delete from probe_job`.execute(platform.database.db);
    await queue.start();
    try {
      // Sent now (the schedule's first pass waits a minute); the worker wakes at once.
      await queue.send(PGLITE_MAINTENANCE_JOB, {});
      await expect.poll(async () => (await churned.stats()).vacuums, { timeout: 60_000 }).toBe(1);
      // The pass queued the next one, later.
      await expect
        .poll(
          async () => {
            const { rows } = await sql<{ waiting: number }>`
              select count(*)::int as waiting from pgboss.job
              where name = ${PGLITE_MAINTENANCE_JOB} and state = 'created'
                and start_after > now() + interval '10 minutes'`.execute(platform.database.db);
            return rows[0]!.waiting;
          },
          { timeout: 60_000 },
        )
        .toBe(1);
    } finally {
      await queue.stop();
    }
  });
});

describe.each(testBackends().filter((backend) => backend === 'postgres'))(
  'PGlite maintenance on %s',
  (backend) => {
    const platforms = platformsPerTest(backend);

    it('is not registered: a PostgreSQL server runs its own autovacuum', async () => {
      const platform = await platforms.open({ jobsEnabled: false });
      const queue = createJobQueue({
        database: platform.database,
        logger: platform.logger,
        work: false,
      });
      const maintenance = registerPgliteMaintenance({
        database: platform.database,
        jobs: queue,
        logger: platform.logger,
      });
      await queue.start();
      try {
        await maintenance.start();
        await expect(queue.send(PGLITE_MAINTENANCE_JOB, {})).rejects.toThrow(/unknown job/);
      } finally {
        await queue.stop();
      }
    });
  },
);
