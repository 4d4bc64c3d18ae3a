import type { FeatureOptions } from '../src/features.ts';
import { type Config, type LlmConfig, loadConfig } from '../src/platform/config.ts';
import type { FaultOptions } from '../tools/fake-llm/fake-llm-faults.ts';
import { type FakeLlm, startFakeLlm } from '../tools/fake-llm/fake-llm-server.ts';
import { createProjectWithMembers, type ProjectWithMembers } from './factories.ts';
import { registerTestSecret } from './leak-scan.ts';
import { perSuite } from './per-suite.ts';
import { type Backend, createTestApp, type TestApp } from './test-platform.ts';

export interface FakeLlmApp {
  t: TestApp;
  fake: FakeLlm;
  members: ProjectWithMembers;
  projectId: string;
  /** The project's provider on the fake server. */
  providerId: string;
  /** A new provider on the fake server: its own adaptive limiter (a 429 storm elsewhere does not slow it). */
  newProvider(maxConcurrency: number, name?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * The whole app on fresh storage with job workers, the fake LLM server (answering to `apiKey`)
 * as an OpenAI provider of a project with one member per role. Retries wait 5–50 ms, usage rows
 * are flushed every 20 ms, and logs stop at `info`: debug lines (one per LLM call) cost more CPU
 * than the calls in a busy test.
 */
export async function openFakeLlmApp(options: {
  apiKey: string;
  maxConcurrency: number;
  backend?: Backend | undefined;
  llm?: Partial<LlmConfig> | undefined;
  config?: Partial<Config> | undefined;
  fakeDefaults?: Partial<FaultOptions> | undefined;
  /** Options of the features (src/features.ts), e.g. the LLM clock. */
  features?: FeatureOptions | undefined;
}): Promise<FakeLlmApp> {
  const { apiKey } = options;
  registerTestSecret('provider-key', apiKey);
  const fake = await startFakeLlm({
    apiKey,
    ...(options.fakeDefaults ? { defaults: options.fakeDefaults } : {}),
  });
  const base = loadConfig({}, {});
  const t = await createTestApp({
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.features ? { features: options.features } : {}),
    config: {
      jobsEnabled: true,
      llm: { ...base.llm, retryBaseMs: 5, retryMaxMs: 50, usageFlushMs: 20, ...options.llm },
      logLevel: 'info',
      ...options.config,
    },
  });
  const members = await createProjectWithMembers(t);
  const projectId = members.project.id;
  const newProvider = async (maxConcurrency: number, name = 'fake openai') => {
    const created = await t.app.llm.admin.createProvider(members.owner.actor, projectId, {
      name,
      kind: 'openai',
      baseUrl: `${fake.url}/v1`,
      apiKey,
      maxConcurrency,
    });
    return created.id;
  };
  return {
    t,
    fake,
    members,
    projectId,
    providerId: await newProvider(options.maxConcurrency),
    newProvider,
    async close() {
      await t.close();
      await fake.close();
    },
  };
}

/**
 * The fake LLM server answering to `apiKey` (registered with the leak scan) for `work`, closed
 * after it whatever it does: for tests that seed data dirs and spawn servers of their own.
 */
export async function withFakeLlm<T>(
  apiKey: string,
  work: (fake: FakeLlm) => Promise<T>,
): Promise<T> {
  registerTestSecret('provider-key', apiKey);
  const fake = await startFakeLlm({ apiKey });
  try {
    return await work(fake);
  } finally {
    await fake.close();
  }
}

/**
 * The fake LLM server answering to `apiKey` (registered with the leak scan) for the tests of
 * the enclosing file or `describe`: a stand-in that reads the running server (test/per-suite.ts).
 */
export function fakeLlmPerSuite(apiKey: string): FakeLlm {
  registerTestSecret('provider-key', apiKey);
  return perSuite(
    () => startFakeLlm({ apiKey }),
    (fake) => fake.close(),
  );
}
