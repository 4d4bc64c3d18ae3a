import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { migratedTempDir } from '../../test/crash-server.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { childEnv, type Spawned, spawnCli } from '../../test/spawn-server.ts';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import { startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import type { Actor } from '../access/actor.ts';
import { buildApp } from '../app.ts';
import { insertUser } from '../auth/user-store.ts';
import { loadConfig } from '../platform/config.ts';
import { uuidv7 } from '../platform/ids.ts';
import { createLogger } from '../platform/logger.ts';
import { openPlatform } from '../platform/platform.ts';
import type { MessageView } from './chat-presenter.ts';
import { CHAT_FAKE_KEY } from './chat-test-env.ts';

const children: Spawned[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const child of children)
    if (child.child.exitCode === null && child.child.signalCode === null) {
      child.child.kill('SIGKILL');
      await child.exited;
    }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A data dir with a user, an API key, a project with the fake provider, and a thread. */
async function prepareDataDir(dataDir: string, fakeUrl: string, model: string) {
  const config = {
    ...loadConfig({}, {}),
    dataDir,
    jobsEnabled: false,
    logLevel: 'silent' as const,
  };
  const platform = await openPlatform(config, createLogger({ level: 'silent', format: 'json' }));
  const app = await buildApp(platform);
  await app.ready();
  try {
    const user = await insertUser(platform.database.db, {
      id: uuidv7(),
      email: `${uuidv7()}@example.test`,
      display_name: 'Spawned',
      password_hash: 'x',
      is_admin: false,
      now: new Date(),
    });
    const actor: Actor = {
      userId: user.id,
      isAdmin: false,
      via: 'session',
      scopes: ['read', 'write', 'admin'],
      credentialId: undefined,
    };
    const project = await app.services.projects.createProject(actor, {
      name: 'Chat crash',
      description: '',
    });
    const { key } = await app.services.apiKeys.create(actor, {
      name: 'spawned',
      scopes: ['read', 'write'],
    });
    registerTestSecret('api-key', key);
    const provider = await app.llm.admin.createProvider(actor, project.id, {
      name: 'fake',
      kind: 'openai',
      baseUrl: `${fakeUrl}/v1`,
      apiKey: CHAT_FAKE_KEY,
    });
    const thread = await app.chat.createThread(actor, project.id, {
      title: 'Crash',
      model,
      provider: provider.id,
      instructions: '',
    });
    return { key, projectId: project.id, threadId: thread.id };
  } finally {
    await app.close();
    await platform.close();
  }
}

describe('a reply survives kill -9', { timeout: 120_000 }, () => {
  it('is taken up again on restart and completes; never left streaming; one call repeated at most', async () => {
    registerTestSecret('provider-key', CHAT_FAKE_KEY);
    const fake = await startFakeLlm({ apiKey: CHAT_FAKE_KEY });
    const dataDir = migratedTempDir('braincells-chat-crash-');
    dirs.push(dataDir);
    try {
      // A slow stream: the crash lands mid-reply.
      const ids = await prepareDataDir(dataDir, fake.url, 'gpt-4o-mini@tps=2');
      const env = childEnv({ BRAINCELLS_DATA_DIR: dataDir, PORT: '0' });
      const headers = { authorization: `Bearer ${ids.key}`, 'content-type': 'application/json' };
      const question = 'What survives a crash of the server process?';

      const first = spawnCli(['serve'], env);
      children.push(first);
      const firstUrl = await first.ready();
      const messagesUrl = (url: string) =>
        `${url}/api/projects/${ids.projectId}/chat/threads/${ids.threadId}/messages`;
      const sent = await fetch(messagesUrl(firstUrl), {
        method: 'POST',
        headers,
        body: JSON.stringify({ content: question }),
      });
      expect(sent.status).toBe(202);
      const replyId = ((await sent.json()) as { assistantMessage: MessageView }).assistantMessage
        .id;
      const read = async (url: string) =>
        ((await (await fetch(messagesUrl(url), { headers })).json()) as { items: MessageView[] })
          .items;
      // Some text is streamed and persisted, the reply is not finished: kill -9.
      await expect
        .poll(async () => (await read(firstUrl))[1]?.content.length ?? 0, {
          timeout: 60_000,
          interval: 20,
        })
        .toBeGreaterThan(0);
      first.child.kill('SIGKILL');
      await first.exited;
      expect(fake.stats().completed).toBe(0);

      const second = spawnCli(['serve'], env);
      children.push(second);
      const url = await second.ready();
      await expect
        .poll(async () => (await read(url))[1]?.status, { timeout: 60_000, interval: 100 })
        .toBe('done');
      const [user, reply] = await read(url);
      expect(user!.content).toBe(question);
      expect(reply).toMatchObject({ id: replyId, status: 'done', content: fakeAnswer(question) });
      // The call the crash cut, and the one that answered: nothing more.
      const calls = fake.requests.filter((request) =>
        JSON.stringify(request.body).includes(question),
      );
      expect(calls).toHaveLength(2);

      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    } finally {
      await fake.close();
    }
  });
});
