import { describe, expect, it } from 'vitest';
import { fakeAnswer } from '../../tools/fake-llm/fake-llm-output.ts';
import { browserSuite, screenshot } from './e2e-harness.ts';

/**
 * Chat in the browser (issue #16): send and watch the reply stream; reload mid-reply and the
 * reply still completes (it is a server-side run, not the tab's); editing a question makes a
 * branch, and the switcher goes back.
 */
// A liveness bound (a hang fails naming the step), not a speed limit.
const LIVENESS = { timeout: 60_000 };

describe('chat', () => {
  const e2e = browserSuite({ fakeLlm: { record: false }, project: 'Chat' });
  let providerId: string;

  const post = async (path: string, data: object) => {
    const response = await e2e.send('POST', path, data);
    expect(response.status(), await response.text()).toBe(201);
    return (await response.json()) as { id: string };
  };

  it('streams a reply that survives a reload, and an edit makes a branch', async () => {
    const { page } = e2e;
    const provider = await post(`/api/projects/${e2e.projectId}/llm/providers`, {
      name: 'Fake',
      kind: 'openai',
      baseUrl: `${e2e.fake.url}/v1`,
      apiKey: 'sk-test-chat-e2e-key',
    });
    providerId = provider.id;
    // A slow stream (2 pieces a second), so the page sees it streaming and the reload lands
    // mid-reply even on a loaded machine.
    const thread = await post(`/api/projects/${e2e.projectId}/chat/threads`, {
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
    expect(e2e.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it('"Summarize now" shows a divider with the summary behind "show"', async () => {
    const { page } = e2e;
    const thread = await post(`/api/projects/${e2e.projectId}/chat/threads`, {
      title: 'Long talk',
      model: 'gpt-4o-mini',
      provider: providerId,
    });
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/chat?thread=${thread.id}`);
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
