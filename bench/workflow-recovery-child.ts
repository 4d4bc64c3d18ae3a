// The process `workflow-engine.bench.ts` kills with SIGKILL: it starts N runs of a 3-step
// workflow on the durable-run engine and parks each in step 2, printing `in-step-2` per run.
// argv: DATABASE_URL, data dir, N.

import { loadConfig } from '../src/platform/config.ts';
import { createDurableRuns } from '../src/platform/jobs/durable-run.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';

const [databaseUrl, dataDir, count] = process.argv.slice(2) as [string, string, string];
const config = {
  ...loadConfig({ BRAINCELLS_DATA_DIR: dataDir }, {}),
  databaseUrl,
  jobsEnabled: false,
  logLevel: 'silent' as const,
};
const platform = await openPlatform(config, createLogger({ level: 'silent', format: 'json' }));
const runs = createDurableRuns({ db: platform.database.db, logger: platform.logger });
runs.define({
  kind: 'bench.recover3',
  concurrency: Number(count),
  async execute(context) {
    await context.step('s1', async () => null);
    await context.step('s2', async () => {
      process.stdout.write('in-step-2\n');
      // Until the parent kills this process.
      await new Promise(() => {});
    });
    await context.step('s3', async () => null);
    return null;
  },
});
for (let index = 0; index < Number(count); index++) {
  const run = await runs.start({ kind: 'bench.recover3', input: {} });
  void runs.execute(run.id);
}
