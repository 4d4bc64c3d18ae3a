import { describe, expect, it } from 'vitest';
import type { ProjectWithMembers } from '../../test/factories.ts';
import type { ThreadExport } from './chat-export.ts';
import { chatgptConversation, claudeConversations, multipartFile } from './chat-import-fixtures.ts';
import type { MessageView, ThreadView } from './chat-presenter.ts';
import { chatAppPerSuite } from './chat-test-env.ts';

// Import of ChatGPT and Claude exports and export of threads, over HTTP on a real PGlite:
// ids kept (a second import adds nothing), a bad file writes nothing, every branch exported.
const env = chatAppPerSuite();
const members = (): ProjectWithMembers => env.members;
const base = () => `/api/projects/${members().project.id}/chat`;

const importJson = (data: unknown, query = '', who = members().editor) =>
  env.t.app.inject({
    method: 'POST',
    url: `${base()}/imports${query}`,
    headers: { ...who.headers, 'content-type': 'application/json' },
    payload: JSON.stringify(data),
  });
const importFile = (bytes: string | Buffer, who = members().editor) => {
  const { body, contentType } = multipartFile('conversations.json', bytes);
  return env.t.app.inject({
    method: 'POST',
    url: `${base()}/imports`,
    headers: { ...who.headers, 'content-type': contentType },
    payload: body,
  });
};
const threadCount = async () =>
  (
    await env.t.app.inject({
      method: 'GET',
      url: `${base()}/threads?limit=200`,
      headers: members().viewer.headers,
    })
  ).json().items.length as number;
const branch = async (threadId: string): Promise<MessageView[]> =>
  (
    await env.t.app.inject({
      method: 'GET',
      url: `${base()}/threads/${threadId}/messages`,
      headers: members().viewer.headers,
    })
  ).json().items;

describe('ChatGPT import', () => {
  it('imports the current branch and the others, leaving out system and tool messages', async () => {
    const response = await importJson([chatgptConversation()]);
    expect(response.statusCode, response.body).toBe(200);
    const result = response.json();
    expect(result).toMatchObject({
      source: 'chatgpt',
      conversations: 1,
      createdThreads: 1,
      addedMessages: 6,
    });
    const threadId = result.threads[0].threadId;
    const thread = (
      await env.t.app.inject({
        method: 'GET',
        url: `${base()}/threads/${threadId}`,
        headers: members().viewer.headers,
      })
    ).json() as ThreadView;
    expect(thread).toMatchObject({ title: 'Lisbon day trip', model: 'gpt-4o' });
    expect(thread.createdAt).toBe('2026-11-02T10:01:00.000Z');
    // The branch ChatGPT showed (current_node), with the tool exchange left out.
    const shown = await branch(threadId);
    expect(shown.map((message) => [message.role, message.content])).toEqual([
      ['user', 'Plan a day in Lisbon'],
      ['assistant', 'Start in Alfama, then Belém.'],
      ['user', 'How hot is it in August?'],
      ['assistant', 'About 28°C in the afternoon.'],
    ]);
    expect(shown[1]!.model).toBe('gpt-4o');
    // The edited question is the other branch at the fork.
    expect(shown[2]!.siblingIds).toHaveLength(2);
  });

  it('adds nothing when the same file is imported again, and only new messages from a newer export', async () => {
    const before = await threadCount();
    const again = await importJson([chatgptConversation()]);
    expect(again.json()).toMatchObject({ createdThreads: 0, addedMessages: 0 });
    expect(await threadCount()).toBe(before);
    const newer = await importJson([chatgptConversation({ extraTurn: true })]);
    expect(newer.json()).toMatchObject({ createdThreads: 0, addedMessages: 1 });
    const shown = await branch(newer.json().threads[0].threadId);
    expect(shown.at(-1)!.content).toBe('Thanks!');
    expect(await threadCount()).toBe(before);
  });

  it('lets the request choose the model the imported threads continue with', async () => {
    const response = await importJson(
      [chatgptConversation({ id: '67a1c2d3-0000-8000-a000-0000000000aa', title: 'Other' })],
      '?model=gpt-4o-mini',
    );
    expect(response.statusCode, response.body).toBe(200);
    const threadId = response.json().threads[0].threadId;
    const thread = await env.t.app.inject({
      method: 'GET',
      url: `${base()}/threads/${threadId}`,
      headers: members().viewer.headers,
    });
    expect(thread.json().model).toBe('gpt-4o-mini');
  });
});

describe('Claude import', () => {
  it('imports branches from parent ids and old linear exports, from an uploaded file; twice adds nothing', async () => {
    const file = JSON.stringify(claudeConversations());
    const response = await importFile(file);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      source: 'claude',
      createdThreads: 2,
      addedMessages: 5,
    });
    const [sourdough, untitled] = response.json().threads;
    expect(untitled.title).toBe('Imported chat');
    const shown = await branch(sourdough.threadId);
    // The newest leaf: the regenerated reply, with its sibling in the switcher.
    expect(shown.map((message) => message.content)).toEqual([
      'How do I feed a sourdough starter?',
      'Discard half, then add flour and water 1:1.',
    ]);
    expect(shown[1]!.siblingIds).toHaveLength(2);
    expect((await branch(untitled.threadId)).map((message) => message.role)).toEqual([
      'user',
      'assistant',
    ]);
    const again = await importFile(file);
    expect(again.json()).toMatchObject({ createdThreads: 0, addedMessages: 0 });
  });

  it('finds imported messages by search', async () => {
    const response = await env.t.app.inject({
      method: 'GET',
      url: `${base()}/threads?q=sourdough`,
      headers: members().viewer.headers,
    });
    expect(response.json().items.map((item: ThreadView) => item.title)).toEqual([
      'Sourdough starter',
    ]);
  });
});

describe('files that are not a known export', () => {
  const cases: [string, unknown, string][] = [
    ['an object of neither kind', { hello: 'world' }, 'file[0]'],
    ['an empty list', [], 'file'],
    ['a list of strings', ['a', 'b'], 'file[0]'],
    [
      'a ChatGPT node with a dangling parent',
      [
        {
          ...chatgptConversation({ id: 'c-dangling' }),
          mapping: {
            ...chatgptConversation().mapping,
            u1: { ...chatgptConversation().mapping.u1!, parent: 'nowhere' },
          },
        },
      ],
      'file[0].mapping.u1.parent',
    ],
    [
      'a ChatGPT cycle',
      [
        {
          ...chatgptConversation({ id: 'c-cycle' }),
          mapping: {
            ...chatgptConversation().mapping,
            'client-created-root': {
              ...chatgptConversation().mapping['client-created-root']!,
              parent: 'a2',
            },
          },
        },
      ],
      'parent',
    ],
    [
      'a Claude message with a sender of no known kind',
      [
        {
          ...claudeConversations()[0]!,
          chat_messages: [{ ...claudeConversations()[0]!.chat_messages[0]!, sender: 'robot' }],
        },
      ],
      'file[0].chat_messages[0].sender',
    ],
  ];

  it.each(cases)('refuses %s with 400 naming the problem', async (_name, data, path) => {
    const response = await importJson(data);
    expect(response.statusCode, response.body).toBe(400);
    const error = response.json().error;
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(JSON.stringify(error.details)).toContain(path);
  });

  it('writes nothing when a later conversation of the file is broken', async () => {
    const before = await threadCount();
    const broken = { ...chatgptConversation({ id: 'c-broken' }), mapping: 'nope' };
    const response = await importJson([
      chatgptConversation({ id: '67a1c2d3-0000-8000-a000-0000000000bb', title: 'Fine one' }),
      broken,
    ]);
    expect(response.statusCode).toBe(400);
    expect(JSON.stringify(response.json().error.details)).toContain('file[1].mapping');
    expect(await threadCount()).toBe(before);
  });

  it('refuses a file that is not JSON, too deep or missing, naming file', async () => {
    for (const response of [
      await importFile('not json at all {'),
      await importFile(`${'['.repeat(100)}${']'.repeat(100)}`),
      await env.t.app.inject({
        method: 'POST',
        url: `${base()}/imports`,
        headers: members().editor.headers,
      }),
    ]) {
      expect(response.statusCode, response.body).toBe(400);
      expect(JSON.stringify(response.json().error)).toContain('file');
    }
  });

  it('keeps a hostile file from reaching a prototype or another project', async () => {
    const hostile = `[{"__proto__": {"polluted": true}, "uuid": "h-1", "name": "x", "chat_messages": []}]`;
    const response = await importFile(hostile);
    expect(response.statusCode, response.body).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const outsider = await importJson([chatgptConversation()], '', members().outsider);
    expect(outsider.statusCode).toBe(404);
    const viewer = await importJson([chatgptConversation()], '', members().viewer);
    expect(viewer.statusCode).toBe(403);
  });
});

describe('export', () => {
  const threadIdOf = async (title: string) =>
    (
      await env.t.app.inject({
        method: 'GET',
        url: `${base()}/threads?limit=200`,
        headers: members().viewer.headers,
      })
    )
      .json()
      .items.find((item: ThreadView) => item.title === title).id as string;
  const exported = (threadId: string, format: string, who = members().viewer) =>
    env.t.app.inject({
      method: 'GET',
      url: `${base()}/threads/${threadId}/export?format=${format}`,
      headers: who.headers,
    });

  it('writes Markdown with the current branch first, then each other branch once', async () => {
    const threadId = await threadIdOf('Lisbon day trip');
    const response = await exported(threadId, 'md');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/markdown');
    expect(response.headers['content-disposition']).toContain('Lisbon day trip.md');
    const text = response.body;
    expect(text).toMatch(/^# Lisbon day trip\n/);
    expect(text).toContain('## Current branch');
    expect(text).toContain('## Branch 2 — after 2. Assistant (gpt-4o)');
    expect(text.indexOf('Thanks!')).toBeLessThan(text.indexOf('## Branch 2'));
    expect(text.indexOf('And for dinner?')).toBeGreaterThan(text.indexOf('## Branch 2'));
    // Each message once.
    expect(text.split('Plan a day in Lisbon')).toHaveLength(2);
  });

  it('writes JSON with every message and its parent', async () => {
    const threadId = await threadIdOf('Lisbon day trip');
    const response = await exported(threadId, 'json');
    expect(response.statusCode).toBe(200);
    const body = response.json() as ThreadExport;
    expect(body).toMatchObject({ format: 'braincells.chat-thread', version: 1 });
    expect(body.thread.id).toBe(threadId);
    expect(body.messages).toHaveLength(7);
    const ids = new Set<string | null>([null]);
    for (const message of body.messages) {
      expect(ids.has(message.parentId)).toBe(true);
      ids.add(message.id);
    }
  });

  it('answers 400 for an unknown format and 404 to an outsider', async () => {
    const threadId = await threadIdOf('Lisbon day trip');
    const bad = await exported(threadId, 'xml');
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json().error.details)).toContain('format');
    const outsider = await exported(threadId, 'md', members().outsider);
    expect(outsider.statusCode).toBe(404);
  });
});
