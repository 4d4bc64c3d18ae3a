// Shared set-up of the sheets benchmarks: a throwaway data dir with a migrated platform, a
// project, and the sheets module acting as the system actor.

import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemActor } from '../src/auth/system-actor.ts';
import { createFeatures } from '../src/features.ts';
import { loadConfig } from '../src/platform/config.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import { datasetTable, valueColumn } from '../src/sheets/sheet-query.ts';

/** `env`: further settings (e.g. BRAINCELLS_DUCKDB_THREADS) over the defaults. */
export async function openSheetsBench(env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-bench-sheets-'));
  const config = {
    ...loadConfig({ ...env, BRAINCELLS_DATA_DIR: dir }, {}),
    jobsEnabled: false,
    logLevel: 'silent' as const,
  };
  const logger = createLogger({ level: 'silent', format: 'json' });
  const platform = await openPlatform(config, logger);
  const module = createFeatures(platform, { useJobs: false }).sheets;
  const projectId = uuidv7();
  await platform.database.db
    .insertInto('project')
    .values({ id: projectId, name: 'Bench' })
    .execute();
  return {
    dir,
    platform,
    module,
    projectId,
    actor: systemActor(),
    close: async () => {
      await platform.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `work` `count` times one after the other; the durations, sorted (ms). */
export async function timeEach(count: number, work: (index: number) => Promise<unknown>) {
  const times: number[] = [];
  for (let index = 0; index < count; index++) {
    const started = performance.now();
    await work(index);
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b);
}

/** A dataset of `rows` rows (Name, City, Amount), filled by DuckDB in one statement. */
export async function createPeopleDataset(
  bench: Awaited<ReturnType<typeof openSheetsBench>>,
  name: string,
  rows: number,
) {
  const dataset = await bench.module.sheets.createDataset(bench.actor, bench.projectId, {
    name,
    rows: 0,
    columns: [
      { name: 'Name', type: 'text' },
      { name: 'City', type: 'text' },
      { name: 'Amount', type: 'number' },
    ],
  });
  const [person, city, amount] = [dataset.columns[0]!, dataset.columns[1]!, dataset.columns[2]!];
  await bench.platform.duckdb.run(
    `insert into ${datasetTable(dataset.id)} (_row_id, ${valueColumn(person.id)}, ${valueColumn(city.id)}, ${valueColumn(amount.id)})
     select range + 1, 'Person ' || (hash(range) % 99991), (['Lisbon','Paris','Kyoto','Lagos','Lima','Oslo'])[(range % 6) + 1], (range * 37 % 100000) / 100.0
     from range(${rows})`,
  );
  return { dataset, name: person, city, amount };
}

/** A CSV of `rows` rows, about 100 bytes each (ids, names, numbers, dates, free text). */
export async function writeCsv(file: string, rows: number): Promise<number> {
  const out = createWriteStream(file);
  let bytes = 0;
  const write = async (text: string) => {
    bytes += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  };
  await write('id,name,email,city,amount,joined,note\n');
  const cities = ['Lisbon', 'Paris', 'Kyoto', 'Lagos', 'Lima', 'Oslo', 'Quito', 'Accra'];
  let batch = '';
  for (let index = 1; index <= rows; index++) {
    const day = String((index % 28) + 1).padStart(2, '0');
    batch += `${index},Person ${index % 99_991},person${index}@example.test,${cities[index % 8]},${((index * 37) % 100_000) / 100},2024-03-${day},"note ${index} with, some text"\n`;
    if (index % 10_000 === 0) {
      await write(batch);
      batch = '';
    }
  }
  await write(batch);
  out.end();
  await once(out, 'finish');
  return bytes;
}
