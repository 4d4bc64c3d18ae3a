// Shared set-up of the generation benchmarks: the whole app on a throwaway data dir (job
// workers on), a project with an OpenAI-kind provider pointing at the fake LLM server running
// in its own process (so its CPU is not ours), and a dataset of N rows.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/app.ts';
import { systemActor } from '../src/auth/system-actor.ts';
import { type Config, loadConfig } from '../src/platform/config.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';
import type { SheetsModule } from '../src/sheets/sheets-module.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface FakeProcess {
  url: string;
  child: ChildProcess;
  close(): Promise<void>;
}

/** tools/fake-llm as a child process with default latency and jitter for every request. */
export async function spawnFakeLlm(options: {
  latencyMs: number;
  jitterMs: number;
  seed?: string;
}): Promise<FakeProcess> {
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'tools/fake-llm/main.ts'),
      '--port',
      '0',
      '--latency',
      String(options.latencyMs),
      '--jitter',
      String(options.jitterMs),
      ...(options.seed ? ['--seed', options.seed] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.on('exit', (code) => reject(new Error(`fake-llm exited ${code}`)));
  });
  return {
    url,
    child,
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

export async function openGenerationBench(options: {
  fakeUrl: string;
  generation?: Partial<Config['generation']>;
  maxConcurrency: number;
}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'braincells-bench-generation-'));
  const base = loadConfig({ BRAINCELLS_DATA_DIR: dir }, {});
  const config: Config = {
    ...base,
    port: 0,
    jobsEnabled: true,
    logLevel: 'silent',
    generation: { ...base.generation, ...options.generation },
  };
  const logger = createLogger({ level: 'silent', format: 'json' });
  const platform = await openPlatform(config, logger);
  const app = await buildApp(platform);
  await platform.jobs.start();
  await app.ready();
  const actor = systemActor();
  const projectId = uuidv7();
  await platform.database.db
    .insertInto('project')
    .values({ id: projectId, name: 'Bench' })
    .execute();
  const provider = await app.llm.admin.createProvider(actor, projectId, {
    name: 'fake',
    kind: 'openai',
    baseUrl: `${options.fakeUrl}/v1`,
    apiKey: 'sk-bench',
    maxConcurrency: options.maxConcurrency,
  });
  const sheets = (app as unknown as { sheets: SheetsModule }).sheets.sheets;
  return {
    dir,
    app,
    platform,
    actor,
    projectId,
    providerId: provider.id,
    sheets,
    /** A dataset with one text column `Item` and `rows` rows. */
    async dataset(rows: number) {
      const created = await sheets.createDataset(actor, projectId, {
        name: `Bench ${rows}`,
        columns: [{ name: 'Item' }],
      });
      const itemId = created.columns[0]!.id;
      for (let start = 0; start < rows; start += 10_000) {
        const count = Math.min(10_000, rows - start);
        await sheets.appendRows(
          actor,
          projectId,
          created.id,
          Array.from({ length: count }, (_, index) => ({ [itemId]: `item ${start + index + 1}` })),
        );
      }
      return created.id;
    },
    async waitForRun(datasetId: string, runId: string, timeoutMs = 30 * 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const run = await app.generation.runs.getRun(actor, projectId, datasetId, runId);
        if (['completed', 'failed', 'cancelled', 'paused'].includes(run.status)) return run;
        if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.status}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: async () => {
      await app.close();
      await platform.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
