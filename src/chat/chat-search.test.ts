import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { createTestApp, type TestApp, testBackends } from '../../test/test-platform.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { SearchMatchView, ThreadView } from './chat-presenter.ts';
import { insertMessage, updateThread } from './chat-store.ts';
import { chatDb } from './chat-tables.ts';

// Full-text search over the messages of a project's threads, and the thread list's filters,
// on PGlite and on PostgreSQL: the same expression index and `websearch_to_tsquery` on both.
describe.each(testBackends())('chat search on %s', (backend) => {
  let t: TestApp;
  let members: ProjectWithMembers;
  const threads: Record<string, ThreadView> = {};
  let agentId: string;

  const threadsUrl = () => `/api/projects/${members.project.id}/chat/threads`;
  const get = (query: string, headers = members.viewer.headers) =>
    t.app.inject({ method: 'GET', url: `${threadsUrl()}${query}`, headers });
  type Hit = ThreadView & { match?: SearchMatchView };
  const search = async (query: string) => {
    const response = await get(query);
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { items: Hit[]; nextCursor: string | null };
  };

  /** A thread with a chain of messages written as rows (replies are not what is tested here). */
  async function threadWith(title: string, texts: string[], extra: object = {}) {
    const response = await t.app.inject({
      method: 'POST',
      url: threadsUrl(),
      headers: members.editor.headers,
      payload: { title, model: 'gpt-4o-mini', ...extra },
    });
    expect(response.statusCode, response.body).toBe(201);
    const thread = response.json() as ThreadView;
    const db = chatDb(t.platform.database.db);
    let parent: { id: string; depth: number } | null = null;
    for (const [index, content] of texts.entries()) {
      parent = await insertMessage(db, {
        id: uuidv7(),
        thread_id: thread.id,
        parent_id: parent?.id ?? null,
        depth: parent ? parent.depth + 1 : 0,
        role: index % 2 === 0 ? 'user' : 'assistant',
        content,
        status: 'done',
        created_by: null,
      });
    }
    if (parent) await updateThread(db, thread.id, { current_leaf_id: parent.id });
    threads[title] = thread;
    return thread;
  }

  beforeAll(async () => {
    t = await createTestApp({ backend, startJobs: false });
    members = await createProjectWithMembers(t);
    const agent = await t.app.inject({
      method: 'POST',
      url: `/api/projects/${members.project.id}/chat/agents`,
      headers: members.editor.headers,
      payload: { name: 'Travel agent', model: 'gpt-4o-mini' },
    });
    expect(agent.statusCode, agent.body).toBe(201);
    agentId = agent.json().id;
    await threadWith('Lisbon', [
      'Where should we stay in Lisbon?',
      'Alfama is charming: steep lanes, fado at night and views over the river Tagus.',
    ]);
    await threadWith('Porto', ['Best port wine cellars in Porto?', 'Try the cellars in Gaia.'], {
      agentId,
    });
    await threadWith('Cooking', ['How long to boil an egg?', 'Nine minutes for a firm yolk.']);
    // A hostile text in a message: markup and our private-use marks never reach a snippet as such.
    await threadWith('Markup', ['<script>alert(1)</script> fado \uE000 marks \uE001']);
    // Another project's thread with the same words is never found.
    const other = await t.app.services.projects.createProject(members.owner.actor, {
      name: 'Other',
      description: '',
    });
    const elsewhere = await t.app.inject({
      method: 'POST',
      url: `/api/projects/${other.id}/chat/threads`,
      headers: members.owner.headers,
      payload: { title: 'Elsewhere', model: 'gpt-4o-mini' },
    });
    await insertMessage(chatDb(t.platform.database.db), {
      id: uuidv7(),
      thread_id: elsewhere.json().id,
      parent_id: null,
      depth: 0,
      role: 'user',
      content: 'fado in another project',
      status: 'done',
      created_by: null,
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('finds threads by the words of any message, with highlighted snippets', async () => {
    const page = await search('?q=fado');
    expect(page.items.map((item) => item.title).sort()).toEqual(['Lisbon', 'Markup']);
    const lisbon = page.items.find((item) => item.title === 'Lisbon')!;
    expect(lisbon.match).toMatchObject({ role: 'assistant', matches: 1 });
    expect(lisbon.match!.snippet.filter((piece) => piece.highlight)).toEqual([
      { text: 'fado', highlight: true },
    ]);
    expect(lisbon.match!.snippet.map((piece) => piece.text).join('')).toContain('Alfama');
    const markup = page.items.find((item) => item.title === 'Markup')!;
    const text = markup.match!.snippet.map((piece) => piece.text).join('');
    // The text-search parser drops tags from a headline; whatever is left is text.
    expect(text).toContain('fado');
    expect(text).not.toMatch(/[\uE000\uE001]/);
  });

  it('keeps each message searchable as its text and status change (the stored vectors)', async () => {
    const db = chatDb(t.platform.database.db);
    const thread = await threadWith('Vectors', ['A question about zeppelins?']);
    const titles = async (q: string) => (await search(`?q=${q}`)).items.map((item) => item.title);
    expect(await titles('zeppelins')).toEqual(['Vectors']);
    /** Changes the messages of the thread, or the one message, `id` names. */
    const change = (
      by: 'thread_id' | 'id',
      id: string,
      changes: { content?: string; status?: 'done' },
    ) => db.updateTable('chat_message').set(changes).where(by, '=', id).execute();
    // An edit in place: the old words are gone, the new ones found.
    await change('thread_id', thread.id, { content: 'A question about dirigibles?' });
    expect(await titles('zeppelins')).toEqual([]);
    expect(await titles('dirigibles')).toEqual(['Vectors']);
    // A reply still streaming is not searchable; once done, it is.
    const reply = await insertMessage(db, {
      id: uuidv7(),
      thread_id: thread.id,
      parent_id: (
        await db
          .selectFrom('chat_message')
          .select('id')
          .where('thread_id', '=', thread.id)
          .executeTakeFirstOrThrow()
      ).id,
      depth: 1,
      role: 'assistant',
      content: 'Blimps float',
      status: 'streaming',
      created_by: null,
    });
    expect(await titles('blimps')).toEqual([]);
    await change('id', reply.id, { content: 'Blimps float on helium' });
    expect(await titles('blimps')).toEqual([]);
    await change('id', reply.id, { status: 'done' });
    expect(await titles('helium')).toEqual(['Vectors']);
    // A deleted message takes its vector with it.
    await db.deleteFrom('chat_message').where('id', '=', reply.id).execute();
    expect(await titles('helium')).toEqual([]);
    await updateThread(db, thread.id, { current_leaf_id: null });
    await db.deleteFrom('chat_message').where('thread_id', '=', thread.id).execute();
    expect(await titles('dirigibles')).toEqual([]);
  });

  it('understands phrases, or and exclusion, and is not case sensitive', async () => {
    const titles = async (query: string) =>
      (await search(`?q=${encodeURIComponent(query)}`)).items.map((item) => item.title).sort();
    expect(await titles('"river Tagus"')).toEqual(['Lisbon']);
    expect(await titles('"Tagus river"')).toEqual([]);
    expect(await titles('EGG or cellars')).toEqual(['Cooking', 'Porto']);
    expect(await titles('fado -alfama')).toEqual(['Markup']);
  });

  it('pages search results by cursor and combines them with the filters', async () => {
    const first = await search('?q=in&limit=1');
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).not.toBeNull();
    const second = await search(`?q=in&limit=1&cursor=${first.nextCursor}`);
    expect(second.items).toHaveLength(1);
    expect(second.items[0]!.id).not.toBe(first.items[0]!.id);
    const byAgent = await search(`?q=in&agentId=${agentId}`);
    expect(byAgent.items.map((item) => item.title)).toEqual(['Porto']);
    expect((await search(`?agentId=${agentId}`)).items.map((item) => item.title)).toEqual([
      'Porto',
    ]);
    expect((await search(`?agentId=${uuidv7()}`)).items).toEqual([]);
  });

  it('takes hostile queries as text: quotes, operators, very long input', async () => {
    for (const query of ["'", '&|!', "fado' or 1=1 --", '!!(', ':*', '\\', '""', '-', '<->']) {
      const page = await search(`?q=${encodeURIComponent(query)}`);
      expect(Array.isArray(page.items), query).toBe(true);
    }
    expect((await search(`?q=${encodeURIComponent("fado'")}`)).items).toHaveLength(2);
    const long = await search(`?q=${encodeURIComponent('fado '.repeat(99))}`);
    expect(long.items).toHaveLength(2);
  });

  it('refuses an empty, oversized or control-character query with 400 naming q', async () => {
    for (const query of ['', '%20%20', encodeURIComponent('x'.repeat(501)), '%00fado']) {
      const response = await get(`?q=${query}`);
      expect(response.statusCode, query).toBe(400);
      expect(response.json().error.code).toBe('VALIDATION_ERROR');
      expect(JSON.stringify(response.json().error.details)).toContain('q');
    }
    expect((await get('?agentId=not-a-uuid')).statusCode).toBe(400);
  });

  it("does not reach another project's threads, and outsiders get 404", async () => {
    const response = await get('?q=fado', members.outsider.headers);
    expect(response.statusCode).toBe(404);
  });
});
