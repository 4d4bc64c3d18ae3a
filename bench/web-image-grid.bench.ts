// Image columns in the grid (issue 18 figures): a steady scroll with about 100 thumbnails on
// screen, on a real server and Debian's Chromium, counting the frames in which a cell in view
// shows no picture yet (its row not loaded, or its thumbnail not decoded) — "no blank frames".
//
//   npm run bench -- web-image-grid
//
// Then the first screen and two long jumps (a scrollbar drag, Ctrl+End): the thumbnail requests
// each made (by URL and in batches) and the frames until every cell showed its picture.
//
// Five image columns × ~22 rows in view at 1280×900; every cell a distinct image (the browser
// cache never answers for a cell the scroll has not shown yet), IMAGES_GRID_ROWS rows (default
// 600: a 3 s scroll at ~1,700 px/s passes ~320 of them).
import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { systemActor } from '../src/auth/system-actor.ts';
import type { ImageReference } from '../src/sheets/images/image-reference.ts';
import { launchBrowser } from '../test/e2e/browser.ts';
import type { SheetsHost } from '../test/e2e/streaming-load.ts';
import { type BenchRow, round } from './bench-types.ts';
import { startWebBenchServer } from './web-bench-server.ts';

const ROWS = Number(process.env.IMAGES_GRID_ROWS ?? 600);
const COLUMNS = 5;
/** Images made and stored at once while the dataset is set up. */
const SETUP_AT_ONCE = 4;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A distinct 320×240 PNG per index (a gradient with the index in it). */
function picture(index: number): Promise<Buffer> {
  const pixels = Buffer.alloc(320 * 240 * 3);
  for (let at = 0; at < pixels.length; at += 3) {
    const x = (at / 3) % 320;
    const y = Math.floor(at / 3 / 320);
    pixels[at] = (x + index) & 0xff;
    pixels[at + 1] = (y + (index >> 8) * 31) & 0xff;
    pixels[at + 2] = (index * 7) & 0xff;
  }
  return sharp(pixels, { raw: { width: 320, height: 240, channels: 3 } })
    .png()
    .toBuffer();
}

type Seen = { loading: number; blank: number; shown: number };

/**
 * Installs `window.__blankProbe` (an init script: the app's CSP allows no eval): whether every
 * image cell in view shows its picture — rendered (not a loading cell), its thumbnail loaded
 * and decoded (`complete` with a natural width).
 */
const INSTALL_PROBE = () => {
  (window as unknown as { __blankProbe: () => Seen }).__blankProbe = () => {
    const scroller = document.querySelector<HTMLElement>('.grid-scroll');
    if (!scroller) return { loading: 0, blank: 0, shown: 0 };
    const top = scroller.getBoundingClientRect().top + 36;
    const bottom = scroller.getBoundingClientRect().bottom;
    const inView = (element: Element) => {
      const box = element.getBoundingClientRect();
      return box.bottom > top && box.top < bottom;
    };
    const loading = [...document.querySelectorAll('.cell-loading')].filter(inView).length;
    const thumbs = [...document.querySelectorAll<HTMLImageElement>('img.thumb')].filter(inView);
    const blank = thumbs.filter((img) => !img.complete || img.naturalWidth === 0).length;
    return { loading, blank, shown: thumbs.length };
  };
};

const probe = () => (window as unknown as { __blankProbe: () => Seen }).__blankProbe();

/** Scrolls steadily for `ms`; per frame, whether any cell in view shows no picture. */
function steadyScroll(page: Page, pixelsPerFrame: number, ms: number) {
  return page.evaluate(
    ({ pixelsPerFrame, ms }) =>
      new Promise<{
        frames: number;
        blankFrames: number;
        longestBlank: number;
        fewestShown: number;
        blankCells: number;
        rowsMissingFrames: number;
        thumbsMissingFrames: number;
        shownCells: number;
      }>((resolve) => {
        const check = (window as unknown as { __blankProbe: () => Seen }).__blankProbe;
        const scroller = document.querySelector<HTMLElement>('.grid-scroll')!;
        const started = performance.now();
        let frames = 0;
        let streak = 0;
        let longestBlank = 0;
        let blankFrames = 0;
        let blankCells = 0;
        let rowsMissingFrames = 0;
        let thumbsMissingFrames = 0;
        let shownCells = 0;
        let fewestShown = Number.POSITIVE_INFINITY;
        const step = () => {
          scroller.scrollTop += pixelsPerFrame;
          frames += 1;
          const seen = check();
          fewestShown = Math.min(fewestShown, seen.shown);
          shownCells += seen.shown + seen.loading;
          if (seen.loading > 0) rowsMissingFrames += 1;
          if (seen.blank > 0) thumbsMissingFrames += 1;
          if (seen.loading + seen.blank > 0) {
            streak += 1;
            blankFrames += 1;
            blankCells += seen.blank + seen.loading;
            longestBlank = Math.max(longestBlank, streak);
          } else streak = 0;
          if (performance.now() - started < ms) requestAnimationFrame(step);
          else
            resolve({
              frames,
              blankFrames,
              longestBlank,
              fewestShown,
              blankCells,
              rowsMissingFrames,
              thumbsMissingFrames,
              shownCells,
            });
        };
        requestAnimationFrame(step);
      }),
    { pixelsPerFrame, ms },
  );
}

/**
 * After a jump (the scroll position moves by more than a screen at once), the frames until
 * every image cell in view shows its picture. Starts counting when the position changes;
 * gives up after `ms` (only a hang reaches it).
 */
function framesUntilShown(page: Page, ms: number) {
  return page.evaluate(
    (ms) =>
      new Promise<{ frames: number; shown: number; settled: boolean }>((resolve) => {
        const check = (window as unknown as { __blankProbe: () => Seen }).__blankProbe;
        const scroller = document.querySelector<HTMLElement>('.grid-scroll')!;
        const from = scroller.scrollTop;
        const started = performance.now();
        let frames = 0;
        const step = () => {
          const elapsed = performance.now() - started;
          if (scroller.scrollTop !== from) {
            frames += 1;
            const seen = check();
            if (seen.shown > 0 && seen.loading + seen.blank === 0) {
              resolve({ frames, shown: seen.shown, settled: true });
              return;
            }
          }
          if (elapsed > ms) resolve({ frames, shown: check().shown, settled: false });
          else requestAnimationFrame(step);
        };
        requestAnimationFrame(step);
      }),
    ms,
  );
}

/** Thumbnail requests a page makes: by URL (one each) and batches. */
function countThumbnailRequests(page: Page) {
  const counts = { single: 0, batches: 0 };
  page.on('request', (request) => {
    if (request.method() === 'GET' && /\/images\/[0-9a-f]{64}\/thumbnail$/.test(request.url()))
      counts.single += 1;
    if (request.method() === 'POST' && request.url().endsWith('/images/thumbnails'))
      counts.batches += 1;
  });
  return {
    /** The requests since the last call. */
    take() {
      const taken = { ...counts };
      counts.single = 0;
      counts.batches = 0;
      return taken;
    },
  };
}

export default async function imagesGridBench(): Promise<BenchRow[]> {
  const { server, app, dataDir } = await startWebBenchServer('images-grid');
  const host = app as unknown as SheetsHost;
  const images = app.features.images.images;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  const rows: BenchRow[] = [];
  try {
    // Inside the try: a browser that does not start still closes the server and its data dir.
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(INSTALL_PROBE);
    const page = await context.newPage();
    const setup = await page.request.post(`${server.url}/api/auth/setup`, {
      data: {
        email: 'bench@example.test',
        password: 'bench correct horse battery',
        displayName: 'Bench',
      },
    });
    const { csrfToken } = (await setup.json()) as { csrfToken: string };
    const project = await page.request.post(`${server.url}/api/projects`, {
      headers: { 'x-csrf-token': csrfToken },
      data: { name: 'Bench' },
    });
    const projectId = ((await project.json()) as { id: string }).id;

    const actor = systemActor();
    const sheets = host.sheets.sheets;
    const dataset = await sheets.createDataset(actor, projectId, {
      name: 'Gallery',
      columns: Array.from({ length: COLUMNS }, (_, index) => ({
        name: `Photo ${index + 1}`,
        type: 'image' as const,
      })),
    });
    const ids = dataset.columns.map((column) => column.id);
    const references: ImageReference[] = [];
    // Made and stored a few at a time (sharp works in libuv's pool): the set-up, not the
    // figure, is what a loaded machine makes long.
    const storeOne = async (index: number) => {
      const stored = await images.storeImage(projectId, {
        name: `photo-${index}.png`,
        bytes: await picture(index),
      });
      if (!stored.ok) throw new Error(stored.reason);
      return stored.reference;
    };
    for (let start = 0; start < ROWS; start += 100) {
      const end = Math.min(ROWS, start + 100);
      const stored: ImageReference[] = [];
      for (let at = start * COLUMNS; at < end * COLUMNS; at += SETUP_AT_ONCE)
        stored.push(
          ...(await Promise.all(
            Array.from({ length: Math.min(SETUP_AT_ONCE, end * COLUMNS - at) }, (_, offset) =>
              storeOne(at + offset),
            ),
          )),
        );
      references.push(...stored);
      const batch = Array.from({ length: end - start }, (_, row) =>
        Object.fromEntries(ids.map((id, column) => [id, stored[row * COLUMNS + column]!])),
      );
      await sheets.appendRows(actor, projectId, dataset.id, batch as never);
    }

    const url = `${server.url}/projects/${projectId}/datasets/${dataset.id}`;
    const session = await context.storageState();
    // Two passes over the same rows, each in a fresh browser context (an empty cache): the
    // thumbnails one request each (the batch route refused, so the grid's prefetch gives up and
    // every cell asks for its thumbnail's URL, as before the prefetch), then with the prefetch.
    for (const pass of ['one request per thumbnail', 'batched prefetch'] as const) {
      const passContext = await browser.newContext({
        viewport: { width: 1280, height: 900 },
        storageState: session,
      });
      await passContext.addInitScript(INSTALL_PROBE);
      if (pass === 'one request per thumbnail')
        await passContext.route('**/images/thumbnails', (route) => route.abort());
      const passPage = await passContext.newPage();
      const requests = countThumbnailRequests(passPage);
      await passPage.goto(url);
      await passPage.waitForFunction(
        () => {
          const seen = (window as unknown as { __blankProbe: () => Seen }).__blankProbe();
          return seen.shown > 0 && seen.loading + seen.blank === 0;
        },
        undefined,
        // Only a hang fails here: a loaded machine takes long to fill the first screen.
        { timeout: 300_000 },
      );
      const onScreen = (await passPage.evaluate(probe)).shown;
      // The first screen: requests until every cell in view showed its picture (with the
      // batches, also those fetching the rows ahead, sent at the same time).
      const first = requests.take();
      rows.push({
        name: `web: thumbnail requests for the first screen, ${onScreen} thumbnails (${pass}; by URL / batches)`,
        value: first.single + first.batches,
        unit: 'requests',
        against: { label: 'by URL', value: first.single },
        ratio: round((first.single + first.batches) / Math.max(1, onScreen), 3),
      });
      // Long jumps to rows never shown (nor fetched ahead): the scrollbar dragged three quarters
      // down, then Ctrl+End; then Ctrl+Home back to the first screen for the steady scrolls.
      for (const jump of ['scrollbar drag to 3/4', 'Ctrl+End'] as const) {
        requests.take();
        const counting = framesUntilShown(passPage, 60_000);
        if (jump === 'Ctrl+End') {
          await passPage.getByRole('grid').focus();
          await passPage.keyboard.press('Control+End');
        } else
          await passPage.locator('.grid-scroll').evaluate((scroller) => {
            scroller.scrollTop = scroller.scrollHeight * 0.75;
          });
        const landed = await counting;
        await sleep(500);
        const made = requests.take();
        rows.push({
          name: `web: long jump (${jump}, ${pass}): frames until every cell in view showed its picture${landed.settled ? '' : ' (not settled)'}`,
          value: landed.frames,
          unit: 'frames',
          against: {
            label: `thumbnail requests (by URL ${made.single}, batches)`,
            value: made.single + made.batches,
          },
        });
      }
      await passPage.keyboard.press('Control+Home');
      await passPage.waitForFunction(
        () => {
          const scroller = document.querySelector<HTMLElement>('.grid-scroll');
          const seen = (window as unknown as { __blankProbe: () => Seen }).__blankProbe();
          return scroller?.scrollTop === 0 && seen.shown > 0 && seen.loading + seen.blank === 0;
        },
        undefined,
        { timeout: 300_000 },
      );
      await sleep(500);
      // About 25 rows (125 new thumbnails) a second, then the text grid's ~1,700 px/s (50 rows).
      for (const [pixels, speed] of [
        [30, '~850 px/s'],
        [60, '~1,700 px/s'],
      ] as const) {
        const label = `${speed}, ${pass}`;
        const scroll = await steadyScroll(passPage, pixels, 3_000);
        rows.push({
          name: `web: longest blank streak, steady scroll (${label}) with ${onScreen} thumbnails on screen`,
          value: scroll.longestBlank,
          unit: 'frames',
          against: { label: 'goal', value: 2 },
          ratio: round(scroll.longestBlank / 2, 2),
          goal: '≤ 2 frames',
          pass: scroll.longestBlank <= 2,
        });
        rows.push({
          name: `web: frames with a cell in view showing no picture (${label})`,
          value: scroll.blankFrames,
          unit: 'frames',
          against: { label: 'frames', value: scroll.frames },
          ratio: round(scroll.blankFrames / Math.max(1, scroll.frames), 3),
        });
        rows.push({
          name: `web: … of which a row not loaded yet / a thumbnail not decoded yet (${label})`,
          value: scroll.rowsMissingFrames,
          unit: 'frames',
          against: { label: 'frames missing a thumbnail', value: scroll.thumbsMissingFrames },
        });
        rows.push({
          name: `web: blank cells summed over the frames (${label})`,
          value: scroll.blankCells,
          unit: 'cells',
          against: { label: 'cells in view summed over the frames', value: scroll.shownCells },
          ratio: round(scroll.blankCells / Math.max(1, scroll.shownCells), 3),
        });
        rows.push({
          name: `web: fewest thumbnails in view in a frame (${label})`,
          value: scroll.fewestShown,
          unit: 'thumbnails',
        });
        // The next scroll goes on from here, into rows (and thumbnails) not yet shown.
        await sleep(500);
      }
      await passContext.close();
    }
    // The server's side of one thumbnail, with the page's session: 200 thumbnails not yet
    // fetched, one at a time, each followed by a request for the project (a small JSON answer
    // on the same session and access check: the load of a shared machine bends both alike),
    // median of each; then the same thumbnails 100 to a batch request, per thumbnail.
    const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;
    const timedRequest = async (target: string, init?: { data: unknown }) => {
      const started = performance.now();
      const response = init
        ? await page.request.post(`${server.url}${target}`, {
            headers: { 'x-csrf-token': csrfToken },
            data: init.data,
          })
        : await page.request.get(`${server.url}${target}`);
      await response.body();
      if (!response.ok()) throw new Error(`${target}: ${response.status()}`);
      return performance.now() - started;
    };
    const unseen = references.slice(-200).map((reference) => reference.sha256);
    const thumbnailTook: number[] = [];
    const projectTook: number[] = [];
    for (const sha256 of unseen) {
      thumbnailTook.push(
        await timedRequest(`/api/projects/${projectId}/images/${sha256}/thumbnail`),
      );
      projectTook.push(await timedRequest(`/api/projects/${projectId}`));
    }
    const thumbnailMs = median(thumbnailTook);
    const projectMs = median(projectTook);
    rows.push({
      name: 'web: one thumbnail request, server and loopback (median of 200, one at a time)',
      value: round(thumbnailMs, 2),
      unit: 'ms',
      against: {
        label: 'GET the project (same session and access check), ms',
        value: round(projectMs, 2),
      },
      ratio: round(thumbnailMs / projectMs, 2),
    });
    const batchTook: number[] = [];
    for (let repeat = 0; repeat < 3; repeat++)
      for (let at = 0; at < unseen.length; at += 100)
        batchTook.push(
          await timedRequest(`/api/projects/${projectId}/images/thumbnails`, {
            data: { sha256: unseen.slice(at, at + 100) },
          }),
        );
    const perThumbnailMs = median(batchTook) / 100;
    rows.push({
      name: 'web: one thumbnail of a 100-thumbnail batch request (median of 6 batches / 100)',
      value: round(perThumbnailMs, 3),
      unit: 'ms',
      against: { label: 'one thumbnail request alone, ms', value: round(thumbnailMs, 2) },
      ratio: round(perThumbnailMs / thumbnailMs, 3),
    });
    await context.close();
  } finally {
    await browser?.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}
