import { beforeAll, describe, expect, it } from 'vitest';
import type { ImageReference } from '../../src/sheets/images/image-reference.ts';
import { SCRIPTED_SVG, solidImage } from '../../src/sheets/images/image-test-fixtures.ts';
import { browserSuite, gridCell, screenshot, system } from './e2e-harness.ts';

/**
 * Issue 18 item 6 in the browser: an image column shows server-made thumbnails from our own
 * origin (allowed by the CSP, lazy), and a click opens the picture large; an SVG shows as its
 * raster thumbnail and its script never runs; images dropped onto a cell, pasted, or dropped
 * onto the grid (new rows) are uploaded.
 */
describe('image columns in the grid', () => {
  const e2e = browserSuite({ project: 'Images project' });
  let url: string;

  beforeAll(async () => {
    const images = e2e.server.t.app.features.images.images;
    const references = [];
    for (const [name, bytes] of [
      ['red.png', await solidImage('png', { width: 320, height: 200 })],
      ['green.jpg', await solidImage('jpeg', { colour: { r: 0, g: 200, b: 0 } })],
      ['logo.svg', SCRIPTED_SVG],
    ] as const) {
      const stored = await images.storeImage(e2e.projectId, { name, bytes: Buffer.from(bytes) });
      if (!stored.ok) throw new Error(stored.reason);
      references.push(stored.reference);
    }
    const sheets = e2e.server.sheets.sheets;
    const dataset = await sheets.createDataset(system(), e2e.projectId, {
      name: 'Gallery',
      columns: [{ name: 'Photo', type: 'image' }],
    });
    await sheets.appendRows(
      system(),
      e2e.projectId,
      dataset.id,
      references.map((reference) => ({ [dataset.columns[0]!.id]: reference as never })),
    );
    url = `${e2e.server.url}/projects/${e2e.projectId}/datasets/${dataset.id}`;
  });

  it('shows thumbnails from our origin and opens a lightbox', async () => {
    const { page } = e2e;
    await page.goto(url);
    await page.getByRole('grid').waitFor();
    const thumbs = page.locator('img.thumb');
    await expect.poll(() => thumbs.count()).toBe(3);
    // Every thumbnail decoded (a CSP refusal or a 404 leaves naturalWidth at 0).
    await expect
      .poll(() =>
        thumbs.evaluateAll((all) => all.map((img) => (img as HTMLImageElement).naturalWidth)),
      )
      .toEqual([256, 64, 40]);
    // The first screen's thumbnails came in one batch from our origin, kept as data URLs.
    const sources = await thumbs.evaluateAll((all) =>
      all.map((img) => (img as HTMLImageElement).src),
    );
    for (const source of sources) expect(source.startsWith('data:image/webp;base64,')).toBe(true);
    await screenshot(page, 'images-01-grid');

    await page.getByRole('button', { name: /^red\.png/ }).click();
    const dialog = page.getByRole('dialog', { name: 'red.png' });
    await dialog.waitFor();
    await expect
      .poll(() => dialog.locator('img').evaluate((img) => (img as HTMLImageElement).naturalWidth))
      .toBe(320);
    expect(await dialog.textContent()).toContain('320×200');
    await screenshot(page, 'images-02-lightbox');
    await page.keyboard.press('Escape');

    // The SVG opens as its raster thumbnail: its markup (and script) never reaches the page.
    await page.getByRole('button', { name: /^logo\.svg/ }).click();
    const svg = page.getByRole('dialog', { name: 'logo.svg' });
    await svg.waitFor();
    expect(await svg.locator('img').getAttribute('src')).toMatch(/\/thumbnail$/);
    await page.keyboard.press('Escape');
    // The first-run page's session check answers 401 before anyone signs in.
    expect(e2e.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it('uploads an image dropped onto a cell', async () => {
    const { page } = e2e;
    const blue = (
      await solidImage('webp', { width: 90, height: 60, colour: { r: 0, g: 0, b: 255 } })
    ).toString('base64');
    const cell = gridCell(page, 1, 1);
    await cell.evaluate((element, base64) => {
      const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'blue.webp', { type: 'image/webp' }));
      const target = element.querySelector('img') ?? element;
      target.dispatchEvent(
        new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: transfer }),
      );
      target.dispatchEvent(
        new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: transfer }),
      );
    }, blue);
    await expect
      .poll(() => page.getByRole('button', { name: /^blue\.webp/ }).count(), { timeout: 30_000 })
      .toBe(1);
    await expect
      .poll(() =>
        gridCell(page, 1, 1)
          .locator('img')
          .evaluate((img) => (img as HTMLImageElement).naturalWidth),
      )
      .toBe(90);
    // The first-run page's session check answers 401 before anyone signs in.
    expect(e2e.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it('uploads an image pasted from the clipboard into the selected cell', async () => {
    const { page } = e2e;
    const yellow = (
      await solidImage('png', { width: 70, height: 50, colour: { r: 250, g: 250, b: 0 } })
    ).toString('base64');
    const grid = page.getByRole('grid');
    await grid.focus();
    // The second data row (the green JPEG), first column.
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    await grid.evaluate((element, base64) => {
      const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
      element.dispatchEvent(
        new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: transfer }),
      );
    }, yellow);
    await expect
      .poll(() => page.getByRole('button', { name: /^pasted\.png/ }).count(), { timeout: 30_000 })
      .toBe(1);
    await expect
      .poll(() =>
        gridCell(page, 2, 1)
          .locator('img')
          .evaluate((img) => (img as HTMLImageElement).naturalWidth),
      )
      .toBe(70);
    expect(e2e.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it('adds image files dropped onto the grid (not a cell) as new rows, one per image', async () => {
    const { page } = e2e;
    const purple = (
      await solidImage('png', { width: 30, height: 20, colour: { r: 128, g: 0, b: 128 } })
    ).toString('base64');
    await page.getByRole('grid').evaluate((element, base64) => {
      const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'dropped-a.png', { type: 'image/png' }));
      transfer.items.add(new File([bytes], 'dropped-b.png', { type: 'image/png' }));
      transfer.items.add(new File(['not an image'], 'fake.png', { type: 'image/png' }));
      for (const type of ['dragover', 'drop'])
        element.dispatchEvent(
          new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }),
        );
    }, purple);
    await expect
      .poll(() => page.getByRole('button', { name: /^dropped-[ab]\.png/ }).count(), {
        timeout: 30_000,
      })
      .toBe(2);
    // The refused file is named with its reason; the rows already there are untouched.
    await page.getByText(/2 images added; refused: fake\.png \(Not an image/).waitFor();
    await expect
      .poll(() =>
        gridCell(page, 5, 1)
          .locator('img')
          .evaluate((img) => (img as HTMLImageElement).naturalWidth),
      )
      .toBe(30);
    expect(
      await page.getByRole('button', { name: /^(blue\.webp|pasted\.png|logo\.svg)/ }).count(),
    ).toBe(3);
    await screenshot(page, 'images-03-dropped-rows');
    expect(e2e.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it('fetches the first screen, the rows ahead and a long jump in batches, not one request each', async () => {
    const images = e2e.server.t.app.features.images.images;
    // Past what the prefetch fetches ahead of the first screen, so the jump's rows are not held.
    const rows = 240;
    const references: ImageReference[] = [];
    for (let index = 0; index < rows; index++) {
      const stored = await images.storeImage(e2e.projectId, {
        name: `long-${index}.png`,
        bytes: await solidImage('png', {
          width: 48,
          height: 32,
          colour: { r: index, g: 255 - index, b: (index * 37) & 255 },
        }),
      });
      if (!stored.ok) throw new Error(stored.reason);
      references.push(stored.reference);
    }
    const hashes = references.map((reference) => reference.sha256);
    const sheets = e2e.server.sheets.sheets;
    const dataset = await sheets.createDataset(system(), e2e.projectId, {
      name: 'Long gallery',
      columns: [{ name: 'Photo', type: 'image' }],
    });
    await sheets.appendRows(
      system(),
      e2e.projectId,
      dataset.id,
      references.map((reference) => ({ [dataset.columns[0]!.id]: reference as never })),
    );

    const { page } = e2e;
    const thumbnailGets: string[] = [];
    /** The hashes each batch request asked for. */
    const batches: string[][] = [];
    const onRequest = (request: {
      method(): string;
      url(): string;
      postDataJSON(): { sha256: string[] };
    }) => {
      if (request.method() === 'GET' && request.url().endsWith('/thumbnail'))
        thumbnailGets.push(request.url());
      if (request.method() === 'POST' && request.url().endsWith('/images/thumbnails'))
        batches.push(request.postDataJSON().sha256);
    };
    /** The batch request that asked for this row's thumbnail (exactly one did). */
    const batchOf = (row: number) => {
      const asked = batches.filter((batch) => batch.includes(hashes[row]!));
      expect(asked).toHaveLength(1);
      return asked[0]!;
    };
    const shows = async (row: number) => {
      const shown = page.locator(`img.thumb[alt="long-${row}.png"]`);
      await shown.waitFor();
      expect(await shown.getAttribute('src')).toMatch(/^data:image\/webp;base64,/);
      await expect
        .poll(() => shown.evaluate((img) => (img as HTMLImageElement).naturalWidth))
        .toBe(48);
    };
    page.on('request', onRequest);
    try {
      const batch = page.waitForResponse(
        (response) =>
          response.request().method() === 'POST' && response.url().endsWith('/images/thumbnails'),
      );
      await page.goto(`${e2e.server.url}/projects/${e2e.projectId}/datasets/${dataset.id}`);
      await page.getByRole('grid').waitFor();
      expect((await batch).status()).toBe(200);
      // The first screen: its cells' thumbnails in one request, as data URLs.
      await shows(0);
      await shows(10);
      expect(batchOf(10)).toBe(batchOf(0));
      expect(thumbnailGets).toEqual([]);
      await page.locator('.grid-scroll').evaluate((element) => {
        const row = element.querySelector('[role=row][aria-rowindex="2"]');
        element.scrollTop = 42 * (row?.getBoundingClientRect().height ?? 34);
      });
      // The rows past the first screen were fetched ahead, in batches.
      await shows(50);
      expect(batchOf(50)).toContain(hashes[60]);
      // A long jump (Ctrl+End) to rows not fetched ahead: that screen in one request.
      const asked = batches.length;
      await page.getByRole('grid').focus();
      await page.keyboard.press('Control+End');
      await shows(rows - 1);
      await shows(rows - 10);
      expect(batches.length).toBeGreaterThan(asked);
      expect(batchOf(rows - 10)).toBe(batchOf(rows - 1));
      // Not one thumbnail was asked for by its URL.
      expect(thumbnailGets).toEqual([]);
    } finally {
      page.off('request', onRequest);
    }
    expect(e2e.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });
});
