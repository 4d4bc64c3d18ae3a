import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Request } from 'playwright-core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm } from '../../tools/fake-llm/fake-llm-server.ts';
import { browserSuite, gridCell, screenshot, setUpInstance, system } from './e2e-harness.ts';

/** Each payload, if it ever ran, would set window.__xss to its number. */
const PAYLOADS = [
  '<img src=x onerror="window.__xss=1">',
  '<script>window.__xss=2</script>',
  '[click me](javascript:window.__xss=3)',
  '<a href="javascript:window.__xss=4">link</a>',
  '<svg onload="window.__xss=5"><circle r="5"/></svg>',
  '<iframe src="javascript:window.__xss=6"></iframe>',
  '"><img src=x onerror=window.__xss=7>',
  '<details open ontoggle="window.__xss=8">x</details>',
  '![pic](x" onerror="window.__xss=9)',
  '[x](JaVaScRiPt:window.__xss=10)',
  '<a href="data:text/html,<script>window.__xss=11</script>">data link</a>',
  '<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=12>',
  '<form action="javascript:window.__xss=13"><button>go</button></form>',
  '<body onload="window.__xss=14">',
  '**bold** and [a real link](https://example.com/page)',
  '<style>body{display:none}</style>styled',
  '<object data="javascript:window.__xss=15"></object>',
  '<base href="javascript:window.__xss=16//">',
  '<a href="  javascript:window.__xss=17">spaced</a>',
  '<img src="javascript:window.__xss=18">',
  // Reasoning behind the <think> toggle is text, whatever it holds (issue 18 item 4).
  '<think><img src=x onerror="window.__xss=19"> [x](javascript:window.__xss=20)</think>**reasoned**',
  // Fenced code is highlighted as text spans: the payload in the string stays text.
  '```js\nconst probe = "<img src=x onerror=window.__xss=21>";\n```',
  // An image URL the CSP refuses (http: on another origin): the cell falls back to its text.
  'http://127.0.0.1:9/refused-by-csp.png',
];

/**
 * An HTML document that tries every way out of the preview frame: script reaching the app,
 * its cookies or the network, handlers, subresources, a meta refresh, a form, a nested frame.
 * Any request it made would carry `leak` in its URL.
 */
const HTML_PREVIEW_PAYLOAD = `<h1>Preview works</h1>
<script>parent.__xss = 900; top.__xss = 901; document.cookie = 'leak=1'; fetch('/leak-fetch');</script>
<img src="/leak-img" onerror="parent.__xss = 902">
<img src="http://127.0.0.1:9/leak-remote">
<link rel="stylesheet" href="/leak-css">
<style>@import url('/leak-import'); body { background: url('/leak-bg'); }</style>
<meta http-equiv="refresh" content="0;url=/leak-refresh">
<form action="/leak-form"><button autofocus>go</button></form>
<iframe src="/leak-frame"></iframe>
<object data="/leak-object"></object>
<a href="/leak-link" target="_top">follow</a>
<div style="position: fixed; inset: 0; z-index: 9; background: rgb(0, 200, 0)"></div>`;

/** Whether the middle of a PNG screenshot is the green the preview's inline style paints. */
async function paintedGreen(png: Buffer): Promise<boolean> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const at =
    (Math.floor(info.height / 2) * info.width + Math.floor(info.width / 2)) * info.channels;
  return data[at]! < 30 && data[at + 1]! > 170 && data[at + 2]! < 30;
}

const csvField = (text: string) => `"${text.replaceAll('"', '""')}"`;

/**
 * A CSV full of script payloads (values, a column name and the dataset name) plus "model
 * output" written through the sheets service (error text, sources with javascript: URLs),
 * rendered with markdown on (code highlighted) and as HTML previews, in the grid and the cell
 * dialog. Nothing may run: no window.__xss, no dialog, no CSP script violation (the sanitizer
 * must stop them before CSP has to), no request from a preview frame.
 */
describe('hostile content', () => {
  const e2e = browserSuite();
  const dialogs: string[] = [];
  /** Every request an HTML preview frame sent (it must send none). */
  const previewRequests: string[] = [];
  const csv = path.join(os.tmpdir(), `braincells-e2e-xss-${process.pid}.csv`);

  beforeAll(async () => {
    const header = ['<img src=x onerror=window.__xss=100>', 'payload'].map(csvField).join(',');
    const lines = PAYLOADS.map((payload, index) =>
      [csvField(`row ${index + 1} <script>window.__xss=200</script>`), csvField(payload)].join(','),
    );
    writeFileSync(csv, [header, ...lines].join('\n'));
    await e2e.context.addInitScript(() => {
      const target = window as unknown as { __csp: string[] };
      target.__csp = [];
      // Chromium also reports the handlers DOMPurify meets while parsing into its inert
      // DOMParser document (nothing can run there; those reports target the document). A
      // handler that reached the live page would target its element.
      window.addEventListener('securitypolicyviolation', (event) => {
        if (
          event.target instanceof Element ||
          event.violatedDirective.startsWith('script-src-elem')
        ) {
          target.__csp.push(
            `${event.violatedDirective} ${event.blockedURI} ${(event.target as Element).outerHTML?.slice(0, 120)}`,
          );
        }
      });
    });
    // Requests of frames other than the app's (previews): one the CSP blocks is reported, and
    // failed as `csp`, but never sent; the ones that count reached a server or the network.
    const fromPreview = (request: Request) => request.frame() !== e2e.page.mainFrame();
    e2e.context.on('requestfinished', (request) => {
      if (fromPreview(request)) previewRequests.push(request.url());
    });
    e2e.context.on('requestfailed', (request) => {
      if (fromPreview(request) && !/csp/i.test(request.failure()?.errorText ?? ''))
        previewRequests.push(request.url());
    });
    e2e.page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  });

  const assertNothingRan = async () => {
    const { page } = e2e;
    const state = await page.evaluate(() => {
      const root = document.getElementById('root')!;
      return {
        xss: (window as unknown as { __xss?: unknown }).__xss,
        csp: (window as unknown as { __csp: string[] }).__csp.filter((entry) =>
          entry.startsWith('script'),
        ),
        dangerous: root.querySelectorAll(
          'script, iframe:not(.html-preview), object, embed, form, base, style, [onerror], [onload], [ontoggle], [onclick], a[href^="javascript" i], a[href^=" javascript" i], a[href^="data:" i], img[src^="javascript" i]',
        ).length,
        // An HTML preview is a frame with an opaque origin and no keyword that loosens it.
        unsandboxed: [...root.querySelectorAll('iframe.html-preview')].filter(
          (frame) =>
            frame.getAttribute('sandbox') !== '' ||
            !frame.hasAttribute('inert') ||
            !(frame as HTMLIFrameElement).srcdoc.includes(
              `content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"`,
            ),
        ).length,
      };
    });
    expect(state).toEqual({ xss: undefined, csp: [], dangerous: 0, unsandboxed: 0 });
    expect(dialogs).toEqual([]);
    expect(previewRequests).toEqual([]);
  };

  /** The cell dialog of the first row's payload cell (Alt+Enter on it). */
  const openPayloadDialog = async () => {
    const { page } = e2e;
    await page.getByRole('grid').focus();
    await page.keyboard.press('ControlOrMeta+Home');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Alt+Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    return dialog;
  };

  it('imports the payloads and shows them as text', async () => {
    await setUpInstance(e2e.page, e2e.server.url, '<b onmouseover=window.__xss=300>project</b>');
    const { page } = e2e;
    await page.getByRole('button', { name: 'Import…' }).click();
    await page.locator('input[type=file]').setInputFiles(csv);
    await page.getByLabel('Dataset name').fill('<script>window.__xss=400</script>');
    await page.getByRole('button', { name: /^Import \d+ columns$/ }).click();
    await page.getByRole('button', { name: 'Open dataset' }).click({ timeout: 60_000 });
    await page.getByRole('grid').waitFor();
    await expect.poll(() => gridCell(page, 2, 2).textContent()).toBe(PAYLOADS[1]);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(
      '<script>window.__xss=400</script>',
    );
    expect(await page.getByRole('columnheader', { name: /img src=x/ }).count()).toBe(1);
    const refused = gridCell(page, PAYLOADS.length, 2);
    await refused.scrollIntoViewIfNeeded();
    await expect.poll(() => refused.textContent()).toBe(PAYLOADS.at(-1));
    expect(await refused.locator('img').count()).toBe(0);
    await assertNothingRan();
    await screenshot(page, 'xss-01-as-text');
  });

  it('renders them as markdown through the sanitizer', async () => {
    const { page } = e2e;
    await page.getByRole('button', { name: 'Column payload menu' }).click();
    await page.getByRole('menuitem', { name: 'Show as markdown' }).click();
    await page.locator('.cell-markdown strong').first().waitFor();
    // The safe markdown still works: bold text and an https link.
    expect(
      await page.locator('.cell-markdown strong', { hasText: 'bold' }).count(),
    ).toBeGreaterThan(0);
    const link = page.locator('.cell-markdown a', { hasText: 'a real link' });
    expect(await link.getAttribute('href')).toBe('https://example.com/page');
    expect(await link.getAttribute('rel')).toContain('noopener');
    // Links whose javascript: URL was dropped stay as inert text.
    await page.locator('.cell-markdown', { hasText: 'click me' }).click();
    // <think> reasoning: closed by default, opened it shows its payload as text.
    const thinking = page.locator('details.thinking').first();
    expect(await thinking.getAttribute('open')).toBeNull();
    await thinking.locator('summary').click();
    expect(await thinking.locator('.thinking-text').textContent()).toContain('onerror=');
    expect(await thinking.locator('img, a').count()).toBe(0);
    expect(await page.locator('.cell-markdown strong', { hasText: 'reasoned' }).count()).toBe(1);
    // Fenced code: highlighted tokens, the payload inside the string shown as text.
    const code = page.locator('.cell-markdown .chat-code', { hasText: 'probe' });
    await code.scrollIntoViewIfNeeded();
    expect(await code.locator('.tok-keyword').first().textContent()).toBe('const');
    expect(await code.locator('.tok-string').textContent()).toBe(
      '"<img src=x onerror=window.__xss=21>"',
    );
    await assertNothingRan();
    await screenshot(page, 'xss-02-markdown');
  });

  it('keeps model output (errors, raw text, sources) inert in the cell dialog', async () => {
    const { page } = e2e;
    const projectId = /\/projects\/([0-9a-f-]+)\//.exec(page.url())![1]!;
    const datasetId = /\/datasets\/([0-9a-f-]+)$/.exec(page.url())![1]!;
    const actor = system();
    const window = await e2e.server.sheets.sheets.readWindow(actor, projectId, datasetId, {
      offset: 0,
      limit: 5,
    });
    const dataset = await e2e.server.sheets.sheets.getDataset(actor, projectId, datasetId);
    const column = dataset.columns.find((candidate) => candidate.name === 'payload')!;
    await e2e.server.sheets.sheets.writeCells(
      actor,
      projectId,
      datasetId,
      column.id,
      window.rows.slice(0, 3).map((row, index) => ({
        rowId: BigInt(row.rowId),
        expectedVersion: row.cells[column.id]!.version,
        value: `model says ${PAYLOADS[index]}`,
        state: {
          status: index === 2 ? 'error' : 'done',
          error: index === 2 ? '<img src=x onerror=window.__xss=500>' : null,
          raw: '<script>window.__xss=600</script>',
          model: '<b>model</b>',
          sources: JSON.stringify([
            {
              url: 'javascript:window.__xss=700',
              title: '<img src=x onerror=window.__xss=701>',
              snippet: '<script>x</script>',
            },
            { url: 'https://example.com/source', title: 'A real source' },
          ]),
        },
      })),
    );
    await expect.poll(() => gridCell(page, 1, 2).textContent()).toContain('model says');
    const dialog = await openPayloadDialog();
    await dialog.getByLabel('Show as markdown').check();
    expect(await dialog.getByRole('link', { name: 'A real source' }).getAttribute('href')).toBe(
      'https://example.com/source',
    );
    expect(await dialog.getByText('<img src=x onerror=window.__xss=701>').count()).toBe(1);
    await screenshot(page, 'xss-03-cell-dialog');
    await assertNothingRan();
    await page.keyboard.press('Escape');
    // The error cell shows its message as text.
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Alt+Enter');
    await dialog.getByText('<img src=x onerror=window.__xss=500>').first().waitFor();
    await assertNothingRan();
  });

  it('keeps real model answers full of payloads inert (AI column on the fake LLM)', async () => {
    const { page } = e2e;
    const projectId = /\/projects\/([0-9a-f-]+)\//.exec(page.url())![1]!;
    const datasetId = /\/datasets\/([0-9a-f-]+)$/.exec(page.url())![1]!;
    if (await page.getByRole('dialog').isVisible()) await page.keyboard.press('Escape');
    const fake = await startFakeLlm({ record: false });
    try {
      const actor = system();
      const provider = await e2e.server.t.app.llm.admin.createProvider(actor, projectId, {
        name: 'Fake',
        kind: 'openai',
        baseUrl: `${fake.url}/v1`,
        apiKey: 'sk-fake-xss',
      });
      // The fake answers every call with this text: markdown and HTML payloads together.
      const answer =
        '<img src=x onerror="window.__xss=800"> [go](javascript:window.__xss=801) <script>window.__xss=802</script> **done**';
      const generation = (
        e2e.server.t.app as unknown as {
          generation: { aiColumns: { createAiColumn(...args: unknown[]): Promise<unknown> } };
        }
      ).generation;
      await generation.aiColumns.createAiColumn(actor, projectId, datasetId, {
        name: 'Model says',
        prompt: 'Repeat {{payload}}',
        provider: provider.id,
        model: `gpt-4o-mini@output=${encodeURIComponent(answer)}`,
        confirm: true,
      });
      const header = page.getByRole('button', { name: 'Column Model says menu' });
      await header.waitFor({ timeout: 30_000 });
      await header.click();
      await page.getByRole('menuitem', { name: 'Show as markdown' }).click();
      await expect
        .poll(() => page.locator('.cell-markdown strong', { hasText: 'done' }).count(), {
          timeout: 30_000,
        })
        .toBeGreaterThan(0);
      await screenshot(page, 'xss-04-model-answers');
      await assertNothingRan();
    } finally {
      await fake.close();
    }
  });

  it('renders HTML previews in a sandboxed frame that reaches neither the app nor the network', async () => {
    const { page } = e2e;
    const projectId = /\/projects\/([0-9a-f-]+)\//.exec(page.url())![1]!;
    const datasetId = /\/datasets\/([0-9a-f-]+)$/.exec(page.url())![1]!;
    if (await page.getByRole('dialog').isVisible()) await page.keyboard.press('Escape');
    const actor = system();
    const window = await e2e.server.sheets.sheets.readWindow(actor, projectId, datasetId, {
      offset: 0,
      limit: 1,
    });
    const dataset = await e2e.server.sheets.sheets.getDataset(actor, projectId, datasetId);
    const column = dataset.columns.find((candidate) => candidate.name === 'payload')!;
    const row = window.rows[0]!;
    await e2e.server.sheets.sheets.writeCells(actor, projectId, datasetId, column.id, [
      {
        rowId: BigInt(row.rowId),
        expectedVersion: row.cells[column.id]!.version,
        value: HTML_PREVIEW_PAYLOAD,
        state: { status: 'done' },
      },
    ]);
    const cookiesBefore = await e2e.context.cookies();
    await page.getByRole('button', { name: 'Column payload menu' }).click();
    await page.getByRole('menuitem', { name: 'Show as HTML preview' }).click();
    // The preview renders the HTML (its inline style paints the frame), in a frame the app's
    // document cannot reach into (an opaque origin: no contentDocument).
    const preview = gridCell(page, 1, 2).locator('iframe.html-preview');
    await expect
      .poll(async () => paintedGreen(await preview.screenshot()), { timeout: 30_000 })
      .toBe(true);
    expect(await preview.evaluate((frame) => (frame as HTMLIFrameElement).contentDocument)).toBe(
      null,
    );
    // The other payloads too: every cell of the column is a sandboxed frame.
    expect(await page.locator('iframe.cell-html-preview').count()).toBeGreaterThan(3);
    await screenshot(page, 'xss-05-html-preview');
    await assertNothingRan();

    // Larger in the cell dialog: still the same sandbox.
    const dialog = await openPayloadDialog();
    await dialog.getByLabel('Show as HTML preview').check();
    const large = dialog.locator('iframe.cell-detail-html');
    await expect.poll(async () => paintedGreen(await large.screenshot())).toBe(true);
    await screenshot(page, 'xss-06-html-preview-dialog');
    await assertNothingRan();
    expect(await e2e.context.cookies()).toEqual(cookiesBefore);
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Column payload menu' }).click();
    await page.getByRole('menuitem', { name: 'Show HTML as text' }).click();
    expect(await page.locator('iframe.html-preview').count()).toBe(0);
  });

  it('would notice a payload that reached the page (the checks above can fail)', async () => {
    const { page } = e2e;
    const caught = await page.evaluate(async () => {
      const probe = document.createElement('div');
      probe.innerHTML = '<img src="data:," onerror="window.__xss=999">';
      // The CSP's report of the probe's own handler (an event, not a pause): it reaches
      // window after the recording listener, so __csp holds it by then.
      const reported = new Promise<void>((resolve) => {
        const onViolation = (event: SecurityPolicyViolationEvent) => {
          if (!(event.target instanceof Node && probe.contains(event.target))) return;
          window.removeEventListener('securitypolicyviolation', onViolation);
          resolve();
        };
        window.addEventListener('securitypolicyviolation', onViolation);
      });
      document.getElementById('root')!.append(probe);
      await reported;
      const result = {
        csp: (window as unknown as { __csp: string[] }).__csp.length,
        dangerous: document.querySelectorAll('#root [onerror]').length,
      };
      probe.remove();
      (window as unknown as { __csp: string[] }).__csp.length = 0;
      return result;
    });
    expect(caught.csp).toBeGreaterThan(0);
    expect(caught.dangerous).toBe(1);
  });
});
