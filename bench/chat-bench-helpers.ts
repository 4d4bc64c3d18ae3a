// The whole app on a fresh data dir for the chat benchmarks (not test/test-platform.ts, which
// needs Vitest): a project with the fake LLM child as its OpenAI provider, the job queue
// started (with or without workers in this process).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/app.ts';
import { systemActor } from '../src/auth/system-actor.ts';
import { type Config, loadConfig } from '../src/platform/config.ts';
import { uuidv7 } from '../src/platform/ids.ts';
import { createLogger } from '../src/platform/logger.ts';
import { openPlatform } from '../src/platform/platform.ts';

export async function openChatBenchApp(options: {
  fakeUrl: string;
  apiKey: string;
  workers: boolean;
  /** Settings over the defaults. */
  config?: (base: Config) => Partial<Config>;
}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bc-bench-chat-'));
  const base = loadConfig({ BRAINCELLS_DATA_DIR: dir }, {});
  const config: Config = {
    ...base,
    port: 0,
    jobsEnabled: options.workers,
    logLevel: 'silent',
    llm: { ...base.llm, maxConcurrency: 64 },
    ...options.config?.(base),
  };
  const platform = await openPlatform(config, createLogger({ level: 'silent', format: 'json' }));
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
    apiKey: options.apiKey,
    maxConcurrency: 64,
  });
  return {
    app,
    platform,
    actor,
    projectId,
    providerId: provider.id,
    async close() {
      await app.close();
      await platform.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type ChatBenchApp = Awaited<ReturnType<typeof openChatBenchApp>>;
