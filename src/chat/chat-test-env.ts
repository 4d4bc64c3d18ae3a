import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { perSuite } from '../../test/per-suite.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import { type FakeLlm, startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import { type Config, loadConfig } from '../platform/config.ts';

export const CHAT_FAKE_KEY = 'sk-test-chat-fake-key-9f8e7d6c';

export interface ChatTestEnv {
  t: TestApp;
  fake: FakeLlm;
  members: ProjectWithMembers;
  projectId: string;
  providerId: string;
  close(): Promise<void>;
}

/** The whole app on fresh storage with job workers, the fake LLM server as its OpenAI provider. */
export async function openChatTestEnv(
  options: { backend?: 'pglite' | 'postgres'; config?: Partial<Config> } = {},
): Promise<ChatTestEnv> {
  registerTestSecret('provider-key', CHAT_FAKE_KEY);
  const fake = await startFakeLlm({ apiKey: CHAT_FAKE_KEY });
  const base = loadConfig({}, {});
  const t = await createTestApp({
    ...(options.backend ? { backend: options.backend } : {}),
    config: {
      jobsEnabled: true,
      llm: { ...base.llm, retryBaseMs: 5, retryMaxMs: 50, usageFlushMs: 20 },
      logLevel: 'info',
      ...options.config,
    },
  });
  const members = await createProjectWithMembers(t);
  const projectId = members.project.id;
  const provider = await t.app.llm.admin.createProvider(members.owner.actor, projectId, {
    name: 'fake openai',
    kind: 'openai',
    baseUrl: `${fake.url}/v1`,
    apiKey: CHAT_FAKE_KEY,
    maxConcurrency: 16,
  });
  return {
    t,
    fake,
    members,
    projectId,
    providerId: provider.id,
    async close() {
      await t.close();
      await fake.close();
    },
  };
}

/** `openChatTestEnv` for the tests of the enclosing file or `describe` (see test/per-suite.ts). */
export function chatEnvPerSuite(options: Parameters<typeof openChatTestEnv>[0] = {}): ChatTestEnv {
  return perSuite(
    () => openChatTestEnv(options),
    (env) => env.close(),
  );
}

/**
 * The app without job workers or a provider, and a project with members, for the tests of
 * the enclosing file or `describe`: for chat that needs no model call (imports, exports,
 * deletes).
 */
export function chatAppPerSuite(): { t: TestApp; members: ProjectWithMembers } {
  return perSuite(
    async () => {
      const t = await createTestApp({ startJobs: false });
      return { t, members: await createProjectWithMembers(t) };
    },
    ({ t }) => t.close(),
  );
}

/** A model request's user turns (Responses `input` or chat `messages`), as JSON text. */
export function userTurnsOf(body: unknown): string[] {
  const { input, messages } = body as {
    input?: { role: string; content: unknown }[];
    messages?: { role: string; content: unknown }[];
  };
  return (input ?? messages ?? [])
    .filter((message) => message.role === 'user')
    .map((message) => JSON.stringify(message.content));
}
