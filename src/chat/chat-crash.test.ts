import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { migratedTempDir, seedDataDir } from '../../test/crash-server.ts';
import { registerTestSecret } from '../../test/leak-scan.ts';
import { childEnv, type Spawned, spawnCli } from '../../test/spawn-server.ts';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import { startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
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
function prepareDataDir(dataDir: string, fakeUrl: string, model: string) {
  return seedDataDir(
    dataDir,
    { fakeUrl, providerKey: CHAT_FAKE_KEY, projectName: 'Chat crash' },
    async ({ app, actor, projectId, providerId }) => {
      const thread = await app.chat.createThread(actor, projectId, {
        title: 'Crash',
        model,
        provider: providerId,
        instructions: '',
      });
      return { threadId: thread.id };
    },
  );
}

describe('a reply survives kill -9', { timeout: 120_000 }, () => {
  it('is taken up again on restart and completes; never left streaming; one call repeated at most', async () => {
    registerTestSecret('provider-key', CHAT_FAKE_KEY);
    const fake = await startFakeLlm({ apiKey: CHAT_FAKE_KEY });
    const dataDir = migratedTempDir('braincells-chat-crash-');
    dirs.push(dataDir);
    try {
      // The first call streams a few pieces and then stalls, so the crash lands mid-reply; the
      // call after the restart (the second of this key) answers at once.
      const ids = await prepareDataDir(
        dataDir,
        fake.url,
        'gpt-4o-mini@hang-after=3,fail-times=1,key=chat-crash',
      );
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
