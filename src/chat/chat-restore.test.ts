import { describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { systemActor } from '../auth/system-actor.ts';
import { chatgptConversation } from './chat-import-fixtures.ts';
import type { MessageView, ThreadView } from './chat-presenter.ts';
import { chatDb } from './chat-tables.ts';
import { chatAppPerSuite } from './chat-test-env.ts';

// "Recently deleted" (docs/chat.md): a deleted thread is listed with `?deleted=true` until its
// purge, restored whole by `POST …/restore`, and deleted for good by the purge job once its
// window (BRAINCELLS_CHAT_RETENTION_DAYS) has passed. Threads come from imports: messages
// without a model call.
const env = chatAppPerSuite();
const members = (): ProjectWithMembers => env.members;
const threads = () => `/api/projects/${members().project.id}/chat/threads`;
type Method = 'GET' | 'POST' | 'DELETE';
const call = (method: Method, url: string, who = members().editor, payload?: unknown) =>
  env.t.app.inject({
    method,
    url,
    headers: who.headers,
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
const DAY = 86_400_000;

/** An imported ChatGPT conversation (6 messages): its thread id. */
async function importedThread(id: string): Promise<string> {
  const response = await env.t.app.inject({
    method: 'POST',
    url: `/api/projects/${members().project.id}/chat/imports`,
    headers: { ...members().editor.headers, 'content-type': 'application/json' },
    payload: JSON.stringify([chatgptConversation({ id })]),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().threads[0].threadId;
}
const listed = async (query = ''): Promise<ThreadView[]> => {
  const response = await call('GET', `${threads()}?limit=200${query}`, members().viewer);
  expect(response.statusCode, response.body).toBe(200);
  return response.json().items;
};
const branch = async (threadId: string): Promise<MessageView[]> =>
  (await call('GET', `${threads()}/${threadId}/messages`, members().viewer)).json().items;
const auditActions = async (threadId: string) =>
  (
    await env.t.platform.database.db
      .selectFrom('audit_log')
      .select('action')
      .where('entity_id', '=', threadId)
      .orderBy('id')
      .execute()
  ).map((row) => row.action);

describe('recently deleted threads', () => {
  it('lists a deleted thread until restored; restore brings it back whole; audited', async () => {
    const threadId = await importedThread('67a1c2d3-0000-8000-a000-00000000d001');
    const messages = await branch(threadId);
    expect(messages.length).toBeGreaterThan(0);

    expect((await call('DELETE', `${threads()}/${threadId}`)).statusCode).toBe(204);
    expect((await call('GET', `${threads()}/${threadId}`)).statusCode).toBe(404);
    expect((await listed()).map((thread) => thread.id)).not.toContain(threadId);
    const [deleted] = (await listed('&deleted=true')).filter((thread) => thread.id === threadId);
    expect(deleted).toBeDefined();
    // The default window: 30 days from the deletion.
    expect(Date.parse(deleted!.purgeAfter!) - Date.parse(deleted!.deletedAt!)).toBe(30 * DAY);
    // Search finds it among the deleted only.
    expect((await listed('&q=Lisbon')).map((thread) => thread.id)).not.toContain(threadId);
    expect((await listed('&deleted=true&q=Lisbon')).map((thread) => thread.id)).toContain(threadId);

    // Viewers may not restore; outsiders do not see the thread.
    expect(
      (await call('POST', `${threads()}/${threadId}/restore`, members().viewer)).statusCode,
    ).toBe(403);
    expect(
      (await call('POST', `${threads()}/${threadId}/restore`, members().outsider)).statusCode,
    ).toBe(404);

    const restored = await call('POST', `${threads()}/${threadId}/restore`);
    expect(restored.statusCode, restored.body).toBe(200);
    expect(restored.json()).toMatchObject({ id: threadId, deletedAt: null, purgeAfter: null });
    expect((await listed()).map((thread) => thread.id)).toContain(threadId);
    expect((await listed('&deleted=true')).map((thread) => thread.id)).not.toContain(threadId);
    expect(await branch(threadId)).toEqual(messages);
    // Restoring a live thread answers it as it is, and records nothing more.
    const again = await call('POST', `${threads()}/${threadId}/restore`);
    expect(again.statusCode).toBe(200);
    expect(again.json().version).toBe(restored.json().version);
    expect(await auditActions(threadId)).toEqual(['chat-thread.delete', 'chat-thread.restore']);
  });

  it('an unknown or another project’s thread is 404', async () => {
    const other = await createProjectWithMembers(env.t);
    const foreign = await env.t.app.chat.createThread(other.owner.actor, other.project.id, {
      title: 'Elsewhere',
      model: 'gpt-4o-mini',
      instructions: '',
    });
    await env.t.app.chat.deleteThread(other.owner.actor, other.project.id, foreign.id);
    expect((await call('POST', `${threads()}/${foreign.id}/restore`)).statusCode).toBe(404);
    const unknown = await call('POST', `${threads()}/0193a0c4-0000-7000-8000-00000000beef/restore`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('NOT_FOUND');
    expect((await call('POST', `${threads()}/not-an-id/restore`)).statusCode).toBe(400);
  });

  it('a thread whose conversation was imported again since cannot be restored over it (409)', async () => {
    const id = '67a1c2d3-0000-8000-a000-00000000d002';
    const first = await importedThread(id);
    expect((await call('DELETE', `${threads()}/${first}`)).statusCode).toBe(204);
    const second = await importedThread(id);
    expect(second).not.toBe(first);
    const response = await call('POST', `${threads()}/${first}/restore`);
    expect(response.statusCode).toBe(409);
    expect(response.json().error.code).toBe('CONFLICT');
    expect((await listed('&deleted=true')).map((thread) => thread.id)).toContain(first);
  });

  it('the purge deletes only threads past their window, messages and all, and audits it', async () => {
    const kept = await importedThread('67a1c2d3-0000-8000-a000-00000000d003');
    const purged = await importedThread('67a1c2d3-0000-8000-a000-00000000d004');
    const live = await importedThread('67a1c2d3-0000-8000-a000-00000000d005');
    const db = chatDb(env.t.platform.database.db);
    expect((await call('DELETE', `${threads()}/${kept}`)).statusCode).toBe(204);
    expect((await call('DELETE', `${threads()}/${purged}`)).statusCode).toBe(204);
    // `purged` was deleted 31 days ago.
    const longAgo = new Date(Date.now() - 31 * DAY);
    await db
      .updateTable('chat_thread')
      .set({ deleted_at: longAgo, purge_after: new Date(longAgo.getTime() + 30 * DAY) })
      .where('id', '=', purged)
      .execute();

    const chat = env.t.app.features.chat.service;
    expect(await chat.purgeExpiredThreads(systemActor())).toBe(1);
    expect(await chat.purgeExpiredThreads(systemActor())).toBe(0);
    const deletedIds = (await listed('&deleted=true')).map((thread) => thread.id);
    expect(deletedIds).toContain(kept);
    expect(deletedIds).not.toContain(purged);
    expect((await call('POST', `${threads()}/${purged}/restore`)).statusCode).toBe(404);
    const left = await db
      .selectFrom('chat_message')
      .select(({ fn }) => fn.countAll<number>().as('count'))
      .where('thread_id', '=', purged)
      .executeTakeFirstOrThrow();
    expect(Number(left.count)).toBe(0);
    expect(await auditActions(purged)).toContain('chat-thread.purge');
    // A live thread and one inside its window stay, whatever the clock says of live ones.
    expect(await chat.purgeExpiredThreads(systemActor(), new Date(Date.now() + 29 * DAY))).toBe(0);
    expect((await listed()).map((thread) => thread.id)).toContain(live);
    expect((await call('POST', `${threads()}/${kept}/restore`)).statusCode).toBe(200);
  });

  it('a deleted thread always has a purge time, in the database too', async () => {
    const threadId = await importedThread('67a1c2d3-0000-8000-a000-00000000d006');
    await expect(
      chatDb(env.t.platform.database.db)
        .updateTable('chat_thread')
        .set({ deleted_at: new Date() })
        .where('id', '=', threadId)
        .execute(),
    ).rejects.toThrow(/chat_thread_purge_after_deleted/);
  });
});
