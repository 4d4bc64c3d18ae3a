import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import { type FakeLlm, startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import {
  type E2eServer,
  launchBrowser,
  openPage,
  screenshot,
  setUpInstance,
  startE2eServer,
  type TestPage,
} from './e2e-harness.ts';

/**
 * Chat in the browser (issue #16): send and watch the reply stream; reload mid-reply and the
 * reply still completes (it is a server-side run, not the tab's); editing a question makes a
 * branch, and the switcher goes back.
 */
// A liveness bound (a hang fails naming the step), not a speed limit.
const LIVENESS = { timeout: 60_000 };

describe('chat', () => {
  let server: E2eServer;
  let fake: FakeLlm;
  let browser: Browser;
  let tab: TestPage;
  let projectId: string;
  let csrf: string;
  let providerId: string;

  const post = async (path: string, data: object) => {
    const response = await tab.page.request.post(`${server.url}${path}`, {
      headers: { 'x-csrf-token': csrf, 'content-type': 'application/json' },
      data: JSON.stringify(data),
    });
    expect(response.status(), await response.text()).toBe(201);
    return (await response.json()) as { id: string };
  };

  beforeAll(async () => {
    [server, fake, browser] = await Promise.all([
      startE2eServer(),
      startFakeLlm({ record: false }),
      launchBrowser(),
    ]);
    tab = await openPage(browser);
    projectId = await setUpInstance(tab.page, server.url, 'Chat');
    const me = await tab.page.request.get(`${server.url}/api/auth/me`);
    csrf = ((await me.json()) as { csrfToken: string }).csrfToken;
  });

  afterAll(async () => {
    await browser?.close();
    await fake?.close();
    await server?.close();
  });

  it('streams a reply that survives a reload, and an edit makes a branch', async () => {
    const { page } = tab;
    const provider = await post(`/api/projects/${projectId}/llm/providers`, {
      name: 'Fake',
      kind: 'openai',
      baseUrl: `${fake.url}/v1`,
      apiKey: 'sk-test-chat-e2e-key',
    });
    providerId = provider.id;
    // A slow stream (2 pieces a second), so the page sees it streaming and the reload lands
    // mid-reply even on a loaded machine.
    const thread = await post(`/api/projects/${projectId}/chat/threads`, {
      title: 'Holiday',
      model: 'gpt-4o-mini@tps=2',
      provider: provider.id,
    });
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('button', { name: 'Holiday' }).click();
    await page.waitForURL(new RegExp(`thread=${thread.id}`));

    const question = 'Where should we go walking in October?';
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill(question);
    await composer.press('Enter');
    const messages = page.getByTestId('chat-message');
    await expect.poll(() => messages.first().textContent(), LIVENESS).toContain(question);
    // The reply streams into the live region.
    const live = page.getByTestId('streaming-text');
    await expect
      .poll(async () => (await live.textContent())?.length ?? 0, LIVENESS)
      .toBeGreaterThan(0);
    expect(await live.getAttribute('aria-live')).toBe('polite');
    await screenshot(page, 'chat-01-streaming');

    await page.reload();
    // After the reload the page shows the reply so far, and the rest arrives.
    const reply = messages.nth(1);
    await expect.poll(() => reply.getAttribute('data-status'), LIVENESS).toBe('done');
    expect((await reply.locator('.chat-text').textContent())?.trim()).toBe(fakeAnswer(question));
    expect(await reply.getByTestId('message-meta').textContent()).toContain('gpt-4o-mini');

    // Edit the question: a new branch, answered; the switcher shows 2 / 2.
    const edited = 'Where should we go walking in November?';
    await messages.first().getByRole('button', { name: 'Edit' }).click();
    await messages.first().getByRole('textbox', { name: 'Edit message' }).fill(edited);
    await messages.first().getByRole('button', { name: 'Save and answer' }).click();
    await expect
      .poll(() => messages.first().getByTestId('branch-position').textContent())
      .toBe('2 / 2');
    await expect.poll(() => messages.nth(1).getAttribute('data-status'), LIVENESS).toBe('done');
    expect((await messages.nth(1).locator('.chat-text').textContent())?.trim()).toBe(
      fakeAnswer(edited),
    );
    await screenshot(page, 'chat-02-branch');

    // Back to the first branch.
    await messages.first().getByRole('button', { name: 'Previous branch' }).click();
    await expect
      .poll(() => messages.first().getByTestId('branch-position').textContent())
      .toBe('1 / 2');
    await expect.poll(() => messages.first().textContent(), LIVENESS).toContain(question);
    // The only expected console error is the 401 of the first /api/auth/me before sign-in.
    expect(tab.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it('"Summarize now" shows a divider with the summary behind "show"', async () => {
    const { page } = tab;
    const thread = await post(`/api/projects/${projectId}/chat/threads`, {
      title: 'Long talk',
      model: 'gpt-4o-mini',
      provider: providerId,
    });
    await page.goto(`${server.url}/projects/${projectId}/chat?thread=${thread.id}`);
    const composer = page.getByRole('textbox', { name: 'Message' });
    const messages = page.getByTestId('chat-message');
    for (const [index, text] of ['First question', 'Second question'].entries()) {
      await composer.fill(text);
      await composer.press('Enter');
      await expect
        .poll(() => messages.nth(index * 2 + 1).getAttribute('data-status'), LIVENESS)
        .toBe('done');
    }
    await page.getByRole('button', { name: 'Summarize now' }).click();
    const divider = page.getByTestId('summary-divider');
    await expect.poll(() => divider.getAttribute('data-status'), LIVENESS).toBe('done');
    expect(await divider.textContent()).toContain('2 earlier messages summarized');
    await divider.getByRole('button', { name: 'show' }).click();
    expect(await divider.locator('.chat-summary-text').textContent()).toContain('First question');
    // The originals stay visible.
    expect(await messages.count()).toBe(4);
    await screenshot(page, 'chat-03-summary');
  });
});
