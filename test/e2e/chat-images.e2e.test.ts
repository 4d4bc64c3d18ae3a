import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { imageDigest } from '../../tools/fake-llm/fake-llm-images.ts';
import { browserSuite, screenshot, sidewaysOverflow } from './e2e-harness.ts';

/**
 * Images in chat in the browser (issue #16), at phone width (390 px): attach an image with the
 * attach button, see a refused file's reason beside its chip and remove it, drop a second
 * image onto the composer, send, then see both thumbnails in the thread (served by our
 * server) and the fake model's reply naming the images it was sent.
 */
// A liveness bound (a hang fails naming the step), not a speed limit.
const LIVENESS = { timeout: 60_000 };

const solid = (r: number, g: number, b: number) =>
  sharp({ create: { width: 80, height: 60, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();

describe('chat images', () => {
  const e2e = browserSuite({
    fakeLlm: { record: false },
    viewport: { width: 390, height: 844 },
    project: 'Pictures',
    providerKey: 'sk-test-chat-images-e2e',
  });

  it('keeps every control of the threads sidebar inside a 390 px screen', async () => {
    const { page } = e2e;
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/chat`);
    const sidebar = page.getByRole('complementary', { name: 'Threads' });
    // The model picker's options carry prices: a select is as wide as its longest option, and
    // that once pushed the whole sidebar past the screen's right edge.
    await expect
      .poll(() => sidebar.locator('option', { hasText: 'per 1M tokens' }).count(), LIVENESS)
      .toBeGreaterThan(0);
    const controls = sidebar.locator('input, select, textarea, button, a');
    expect(await controls.count()).toBeGreaterThan(5);
    const outside = await controls.evaluateAll((elements) =>
      elements.flatMap((element) => {
        const box = element.getBoundingClientRect();
        return box.left < 0 || box.right > window.innerWidth
          ? [`${element.outerHTML.slice(0, 60)} ${box.left}–${box.right}`]
          : [];
      }),
    );
    expect(outside).toEqual([]);
    expect(await page.evaluate(() => window.innerWidth)).toBe(390);
    await screenshot(page, 'chat-images-00-sidebar-390');
  });

  it('attaches, refuses, drops, sends and shows the images with the reply', async () => {
    const { page } = e2e;
    const created = await e2e.send('POST', `/api/projects/${e2e.projectId}/chat/threads`, {
      title: 'Colours',
      model: 'gpt-4o-mini',
      provider: e2e.providerId,
    });
    expect(created.status()).toBe(201);
    const thread = (await created.json()) as { id: string };
    await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/chat?thread=${thread.id}`);

    const red = await solid(220, 20, 20);
    const blue = await solid(20, 20, 220);
    const input = page.getByTestId('attach-input');
    await expect
      .poll(() => page.getByRole('button', { name: 'Attach images' }).isVisible(), LIVENESS)
      .toBe(true);
    // The attach button's file input: one good image, one that only claims to be a PNG.
    await input.setInputFiles([
      { name: 'red.png', mimeType: 'image/png', buffer: red },
      { name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('not an image at all') },
    ]);
    const chips = page.getByTestId('attachment-chip');
    await expect.poll(() => chips.count(), LIVENESS).toBe(2);
    await expect.poll(() => chips.nth(0).getAttribute('data-status'), LIVENESS).toBe('ready');
    await expect.poll(() => chips.nth(1).getAttribute('data-status'), LIVENESS).toBe('error');
    expect(await chips.nth(1).getByRole('alert').textContent()).toMatch(/not an image/i);
    const sendButton = page.getByRole('button', { name: 'Send' });
    // A refused image blocks the send until it is removed.
    expect(await sendButton.isDisabled()).toBe(true);
    await screenshot(page, 'chat-images-01-refused');
    await page.getByRole('button', { name: 'Remove fake.png' }).click();
    await expect.poll(() => chips.count()).toBe(1);

    // Drop a second image onto the composer.
    await page.evaluate(
      ({ base64 }) => {
        const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'blue.png', { type: 'image/png' }));
        const form = document.querySelector('form.chat-composer')!;
        form.dispatchEvent(
          new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }),
        );
      },
      { base64: blue.toString('base64') },
    );
    await expect.poll(() => chips.count(), LIVENESS).toBe(2);
    await expect.poll(() => chips.nth(1).getAttribute('data-status'), LIVENESS).toBe('ready');

    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('Hues?');
    await composer.press('Enter');
    await expect.poll(() => chips.count(), LIVENESS).toBe(0);

    const messages = page.getByTestId('chat-message');
    const images = messages.first().getByTestId('message-image');
    await expect.poll(() => images.count(), LIVENESS).toBe(2);
    // The thumbnails are loaded from our server (decoded, not a broken image).
    await expect
      .poll(
        () =>
          images
            .locator('img')
            .evaluateAll((elements) =>
              elements.map((element) => (element as HTMLImageElement).naturalWidth),
            ),
        LIVENESS,
      )
      .toEqual([80, 80]);
    expect(await images.first().getAttribute('href')).toMatch(
      new RegExp(`/chat/threads/${thread.id}/attachments/[0-9a-f]{64}$`),
    );
    const reply = messages.nth(1);
    await expect.poll(() => reply.getAttribute('data-status'), LIVENESS).toBe('done');
    const text = (await reply.locator('.chat-text').textContent()) ?? '';
    expect(text).toContain(`[image:${imageDigest(red)}]`);
    expect(text).toContain(`[image:${imageDigest(blue)}]`);
    // Nothing runs past the 390 px viewport.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      390,
    );
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    // The thumbnail opens the original (keyboard: focus the link).
    await images.first().focus();
    expect(await images.first().evaluate((element) => element === document.activeElement)).toBe(
      true,
    );
    const original = await page.request.get(
      `${e2e.server.url}${await images.first().getAttribute('href')}`,
    );
    expect(original.status()).toBe(200);
    expect(original.headers()['content-type']).toBe('image/png');
    await screenshot(page, 'chat-images-02-sent');
    expect(e2e.errors.filter((error) => !/status of 401|status of 415/.test(error))).toEqual([]);
  });
});
