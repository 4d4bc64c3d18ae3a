import { describe, expect, it } from 'vitest';
import { killHard, seedDataDir, serverProcesses } from '../../test/crash-server.ts';
import { withFakeLlm } from '../../test/fake-llm-app.ts';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import type { MessageView } from './chat-presenter.ts';
import { CHAT_FAKE_KEY } from './chat-test-env.ts';

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
  const servers = serverProcesses();

  it('is taken up again on restart and completes; never left streaming; one call repeated at most', async () => {
    await withFakeLlm(CHAT_FAKE_KEY, async (fake) => {
      const dataDir = servers.migratedDataDir('braincells-chat-crash-');
      // The first call streams a few pieces and then stalls, so the crash lands mid-reply; the
      // call after the restart (the second of this key) answers at once.
      const ids = await prepareDataDir(
        dataDir,
        fake.url,
        'gpt-4o-mini@hang-after=3,fail-times=1,key=chat-crash',
      );
      const headers = { authorization: `Bearer ${ids.key}`, 'content-type': 'application/json' };
      const question = 'What survives a crash of the server process?';

      const first = servers.serve(dataDir);
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
      await killHard(first);
      expect(fake.stats().completed).toBe(0);

      const second = servers.serve(dataDir);
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
    });
  });
});
