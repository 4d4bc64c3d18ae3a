import { beforeAll, describe, expect, it } from 'vitest';
import { browserSuite, screenshot } from './e2e-harness.ts';

/**
 * Chat threads in the browser (issue #16 item 9): a 10,000-message thread opens at its end and
 * scrolls without rendering every message (a virtualized list), code blocks are highlighted as
 * text (a model's markup in them stays text); the sidebar search lives in `?q=`; a deleted
 * thread comes back from "Recently deleted". Threads come from Claude imports (no model call).
 */
// A liveness bound (a hang fails naming the step), not a speed limit.
const LIVENESS = { timeout: 60_000 };
const LONG = 10_000;
const CODE =
  '```js\nconst greeting = \'<img src=x onerror="window.__xss=1">\'; // never markup\nreturn 42;\n```';

/** A Claude export conversation of one chain of messages (the older, parent-less shape). */
function claudeChain(uuid: string, name: string, texts: string[]) {
  const at = (index: number) => new Date(Date.UTC(2026, 10, 1) + index * 1_000).toISOString();
  return {
    uuid,
    name,
    created_at: at(0),
    updated_at: at(texts.length),
    account: { uuid: '2a2b2c2d-0000-4000-8000-00000000000a' },
    chat_messages: texts.map((text, index) => ({
      uuid: `${uuid}-${index}`,
      text,
      content: [{ type: 'text', text }],
      sender: index % 2 === 0 ? 'human' : 'assistant',
      created_at: at(index),
      updated_at: at(index),
      attachments: [],
      files: [],
    })),
  };
}

describe('chat threads', () => {
  const e2e = browserSuite({ project: 'Chat threads' });
  const threadIds = new Map<string, string>();

  beforeAll(async () => {
    const long = Array.from({ length: LONG }, (_, index) =>
      index === LONG - 1 ? `Message ${index}: the code.\n\n${CODE}` : `Message ${index}: ordinary.`,
    );
    const conversations = [
      claudeChain('e2e-long', 'Very long thread', long),
      claudeChain('e2e-bread', 'Bread', ['How do I feed a sourdough starter?', 'Flour and water.']),
      claudeChain('e2e-words', 'Words', ['Translate "bom dia"', '"Good morning".']),
    ];
    const response = await e2e.send(
      'POST',
      `/api/projects/${e2e.projectId}/chat/imports?model=gpt-4o-mini`,
      conversations,
    );
    expect(response.status(), await response.text()).toBe(200);
    const result = (await response.json()) as {
      threads: { threadId: string; sourceId: string }[];
    };
    for (const [index, conversation] of conversations.entries())
      threadIds.set(conversation.name, result.threads[index]!.threadId);
  });

  const chatUrl = (search: string) => `${e2e.server.url}/projects/${e2e.projectId}/chat${search}`;

  it('opens a 10,000-message thread at its end and scrolls it without rendering every message', async () => {
    const { page } = e2e;
    await page.goto(chatUrl(`?thread=${threadIds.get('Very long thread')}`));
    const messages = page.getByTestId('chat-message');
    await expect
      .poll(() => messages.last().textContent(), LIVENESS)
      .toContain(`Message ${LONG - 1}`);
    // One page (100) is loaded; only those in view and a few around them are in the DOM.
    const list = page.getByRole('list', { name: 'Messages' });
    expect(Number(await list.getAttribute('data-loaded'))).toBeGreaterThanOrEqual(100);
    expect(await messages.count()).toBeLessThan(40);

    // The code block: highlighted spans, the model's markup kept as text.
    const code = page.locator('.chat-code').last();
    expect(await code.getAttribute('data-language')).toBe('js');
    expect(await code.locator('.tok-keyword').first().textContent()).toBe('const');
    expect(await code.locator('.tok-string').first().textContent()).toContain('<img src=x');
    expect(await code.locator('.tok-comment').first().textContent()).toBe('// never markup');
    expect(await code.locator('.tok-number').first().textContent()).toBe('42');
    expect(await code.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    await screenshot(page, 'chat-threads-01-long-end');

    // Scrolling up loads earlier pages as the top comes into view; the DOM stays small.
    const scroller = page.getByTestId('chat-scroll');
    for (let round = 0; round < 4; round++) {
      const before = Number(await list.getAttribute('data-loaded'));
      await scroller.evaluate((element) => {
        element.scrollTop = 0;
      });
      await expect
        .poll(async () => Number(await list.getAttribute('data-loaded')), LIVENESS)
        .toBeGreaterThan(before);
    }
    const loaded = Number(await list.getAttribute('data-loaded'));
    expect(loaded).toBeGreaterThanOrEqual(500);
    expect(await messages.count()).toBeLessThan(40);
    // What is in view is from the earlier pages, not the end.
    const first = Number(/Message (\d+)/.exec((await messages.first().textContent()) ?? '')?.[1]);
    expect(first).toBeLessThan(LONG - 100);
    await screenshot(page, 'chat-threads-02-long-scrolled');
    expect(e2e.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it('searches from the sidebar, the query in ?q= (a link opens the search)', async () => {
    const { page } = e2e;
    await page.goto(chatUrl('?q=sourdough'));
    const threadList = page.getByRole('list', { name: 'Thread list' });
    await expect
      .poll(() => threadList.getByRole('button').allTextContents(), LIVENESS)
      .toEqual([expect.stringContaining('Bread')]);
    expect(await threadList.locator('mark').first().textContent()).toBe('sourdough');
    expect(await page.getByRole('searchbox', { name: 'Search messages' }).inputValue()).toBe(
      'sourdough',
    );

    await page.getByRole('searchbox', { name: 'Search messages' }).fill('morning');
    await page.waitForURL(/[?&]q=morning/, LIVENESS);
    await expect
      .poll(() => threadList.getByRole('button').allTextContents(), LIVENESS)
      .toEqual([expect.stringContaining('Words')]);
    await threadList.getByRole('button', { name: /Words/ }).click();
    await page.waitForURL(new RegExp(`thread=${threadIds.get('Words')}`), LIVENESS);
    expect(page.url()).toContain('q=morning');
    await expect
      .poll(() => page.getByTestId('chat-message').last().textContent(), LIVENESS)
      .toContain('Good morning');
    await screenshot(page, 'chat-threads-03-search');
  });

  it('a deleted thread is listed in "Recently deleted" and restored from there', async () => {
    const { page } = e2e;
    const breadId = threadIds.get('Bread')!;
    await page.goto(chatUrl(`?thread=${breadId}`));
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).textContent(), LIVENESS)
      .toBe('Bread');
    await page.getByRole('button', { name: 'Delete thread' }).click();
    await page.waitForURL((url) => !url.search.includes('thread='), LIVENESS);
    const threadList = page.getByRole('list', { name: 'Thread list' });
    await expect
      .poll(() => threadList.getByRole('button').allTextContents(), LIVENESS)
      .not.toContain(expect.stringContaining('Bread'));

    await page.getByRole('button', { name: 'Recently deleted' }).click();
    const deleted = page.getByRole('list', { name: 'Deleted threads' });
    await expect.poll(() => deleted.textContent(), LIVENESS).toContain('Bread');
    await screenshot(page, 'chat-threads-04-recently-deleted');
    await deleted.getByRole('button', { name: 'Restore Bread' }).click();
    await page.waitForURL(new RegExp(`thread=${breadId}`), LIVENESS);
    await expect
      .poll(() => threadList.getByRole('button').allTextContents(), LIVENESS)
      .toContainEqual(expect.stringContaining('Bread'));
    await expect
      .poll(() => page.getByTestId('chat-message').last().textContent(), LIVENESS)
      .toContain('Flour and water.');
  });
});
