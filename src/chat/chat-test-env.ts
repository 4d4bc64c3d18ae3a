import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { type FakeLlmApp, openFakeLlmApp } from '../../test/fake-llm-app.ts';
import { perSuite } from '../../test/per-suite.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import type { Config } from '../platform/config.ts';

export const CHAT_FAKE_KEY = 'sk-test-chat-fake-key-9f8e7d6c';

export type ChatTestEnv = FakeLlmApp;

/** The whole app on fresh storage with job workers, the fake LLM server as its OpenAI provider. */
export function openChatTestEnv(
  options: { backend?: 'pglite' | 'postgres'; config?: Partial<Config> } = {},
): Promise<ChatTestEnv> {
  return openFakeLlmApp({ apiKey: CHAT_FAKE_KEY, maxConcurrency: 16, ...options });
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
