import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { testBackends } from '../../test/test-platform.ts';
import type { MessageView, ThreadView } from './chat-presenter.ts';
import { chatEnvPerSuite } from './chat-test-env.ts';

// The invariants the database guards, on PGlite and (with DATABASE_URL) on PostgreSQL, where
// requests really run in parallel: one streaming reply per thread, one winner per edit.
describe.each(testBackends())('chat invariants on %s', (backend) => {
  const env = chatEnvPerSuite({ backend });

  const url = () => `/api/projects/${env.projectId}/chat/threads`;
  const post = (path: string, payload: object, headers = env.members.editor.headers) =>
    env.t.app.inject({ method: 'POST', url: path, headers, payload });

  async function newThread(model: string): Promise<ThreadView> {
    const response = await post(url(), { model, provider: env.providerId });
    expect(response.statusCode).toBe(201);
    return response.json();
  }

  it('concurrent sends to one thread start exactly one reply; the rest get 409', async () => {
    const thread = await newThread('gpt-4o-mini@hang-after=1');
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        post(`${url()}/${thread.id}/messages`, { content: `Question ${index}` }),
      ),
    );
    const statuses = responses.map((response) => response.statusCode).sort();
    expect(statuses).toEqual([202, 409, 409, 409, 409, 409]);
    const winner = responses.find((response) => response.statusCode === 202)!.json() as {
      assistantMessage: MessageView;
    };
    // Nothing of the refused sends was written.
    const page = await env.t.app.inject({
      method: 'GET',
      url: `${url()}/${thread.id}/messages`,
      headers: env.members.editor.headers,
    });
    expect(page.json().items).toHaveLength(2);
    const rows = await env.t.platform.database.db
      .selectFrom('durable_run')
      .select('id')
      .where('kind', '=', 'chat.reply')
      .where(sql<string>`input->>'threadId'`, '=', thread.id)
      .execute();
    expect(rows).toHaveLength(1);
    const messageId = winner.assistantMessage.id;
    await eventually(
      async () =>
        (await post(`${url()}/${thread.id}/messages/${messageId}/stop`, {})).json() as MessageView,
      (message) => message.status === 'stopped',
    );
  });

  it('concurrent edits of one reply: exactly one lands, one revision is kept', async () => {
    const thread = await newThread('gpt-4o-mini');
    const sent = await post(`${url()}/${thread.id}/messages`, { content: 'Count to three' });
    const replyId = (sent.json() as { assistantMessage: MessageView }).assistantMessage.id;
    const reply = await eventually(
      async () =>
        (
          await env.t.app.inject({
            method: 'GET',
            url: `${url()}/${thread.id}/messages`,
            headers: env.members.editor.headers,
          })
        ).json().items[1] as MessageView,
      (message) => message.status === 'done',
    );
    const responses = await Promise.all(
      Array.from({ length: 5 }, (_, index) =>
        env.t.app.inject({
          method: 'PATCH',
          url: `${url()}/${thread.id}/messages/${replyId}`,
          headers: env.members.editor.headers,
          payload: { content: `Edit ${index}`, version: reply.version },
        }),
      ),
    );
    expect(responses.map((response) => response.statusCode).sort()).toEqual([
      200, 409, 409, 409, 409,
    ]);
    const revisions = await env.t.app.inject({
      method: 'GET',
      url: `${url()}/${thread.id}/messages/${replyId}/revisions`,
      headers: env.members.viewer.headers,
    });
    expect(revisions.json().items).toHaveLength(1);
  });
});
