// Shared set-up of the sheets benchmarks: a throwaway data dir with a migrated platform, a
// project, and the sheets module acting as the system actor.

import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemActor } from '../src/auth/system-actor.ts';
import { loadConfig } from '../src/platform/config.ts';
import { createInProcessEventBus } from '../src/platform/events.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import { createCoreServices } from '../src/services.ts';
import { createSheetsModule } from '../src/sheets/sheets-module.ts';

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
  const services = createCoreServices({ config, logger, database: platform.database });
  const module = createSheetsModule({
    platform,
    access: services.access,
    events: createInProcessEventBus(),
  });
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
