import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { APIResponse, Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { systemActor } from '../../src/auth/system-actor.ts';
import type { Config } from '../../src/platform/config.ts';
import type { createSheetsModule } from '../../src/sheets/sheets-module.ts';
import {
  type FakeLlm,
  type FakeLlmOptions,
  startFakeLlm,
} from '../../tools/fake-llm/fake-llm-server.ts';
import { perSuite } from '../per-suite.ts';
import { createTestApp, type TestApp } from '../test-platform.ts';
import { launchBrowser } from './browser.ts';

export { CHROMIUM, launchBrowser } from './browser.ts';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** Screenshots and other artifacts of the browser tests (gitignored). */
export const ARTIFACTS = path.join(ROOT, 'test-results', 'e2e');

export interface E2eServer {
  url: string;
  t: TestApp;
  /** The sheets module of the running app (same event bus as its SSE routes). */
  sheets: ReturnType<typeof createSheetsModule>;
  close(): Promise<void>;
}

/**
 * A real server on a free loopback port over a fresh migrated data dir, with job workers
 * (imports run as jobs) and rate limits high enough for a test that streams thousands of
 * cells. It serves the built web app from dist/web (built by the e2e global setup).
 */
export async function startE2eServer(config: Partial<Config> = {}): Promise<E2eServer> {
  const t = await createTestApp({
    config: {
      logLevel: 'warn',
      jobsEnabled: true,
      rateLimit: { perIp: 1_000_000, perUser: 1_000_000, auth: 1_000, redisUrl: undefined },
      ...config,
    },
    startJobs: true,
  });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const sheets = (t.app as unknown as { sheets: E2eServer['sheets'] }).sheets;
  return { url: `http://127.0.0.1:${port}`, t, sheets, close: () => t.close() };
}

export interface TestPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors and console errors seen so far (CSP reports included). */
  errors: string[];
}

export async function openPage(
  browser: Browser,
  options: { width?: number; height?: number } = {},
): Promise<TestPage> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
    acceptDownloads: true,
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return { context, page, errors };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

/**
 * How far the page scrolls sideways (≤ 0: never; wide content scrolls inside its own box):
 * the document against the window, and the app frame's own scrolling parts — the content area
 * (`main` scrolls itself, so a wide page shows there, not in the document) and the top bar
 * with its navigation.
 */
export const sidewaysOverflow = (page: Page) =>
  page.evaluate(() =>
    Math.max(
      document.documentElement.scrollWidth - window.innerWidth,
      ...[...document.querySelectorAll('main, .top-bar, .top-bar nav')].map(
        (element) => element.scrollWidth - element.clientWidth,
      ),
    ),
  );

export const ADMIN = { email: 'admin@example.test', password: 'e2e correct horse battery staple' };

/** First-run setup in the browser, then a first project; ends on its datasets page. */
export async function setUpInstance(
  page: Page,
  url: string,
  projectName = 'E2E project',
): Promise<string> {
  await page.goto(`${url}/`);
  await page.waitForURL(/\/setup$/);
  await page.getByLabel('E-mail').fill(ADMIN.email);
  await page.getByLabel('Display name').fill('E2E Admin');
  await page.getByLabel('Password (at least 12 characters)').fill(ADMIN.password);
  await page.getByLabel('Repeat the password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByLabel('Project name').fill(projectName);
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.waitForURL(/\/projects\/[0-9a-f-]+\/datasets$/);
  return /\/projects\/([0-9a-f-]+)\//.exec(page.url())![1]!;
}

/** Imports a file through the import dialog and opens the dataset; returns its id. */
export async function importFile(page: Page, file: string): Promise<string> {
  await page.getByRole('button', { name: 'Import…' }).click();
  await page.locator('input[type=file]').setInputFiles(file);
  const start = page.getByRole('button', { name: /^Import \d+ columns$/ });
  await start.waitFor();
  await start.click();
  const open = page.getByRole('button', { name: 'Open dataset' });
  await open.waitFor({ timeout: 60_000 });
  await open.click();
  await page.waitForURL(/\/datasets\/[0-9a-f-]+$/);
  await page.getByRole('grid').waitFor();
  return /\/datasets\/([0-9a-f-]+)$/.exec(page.url())![1]!;
}

/** A cell of the grid by 1-based row position and 1-based column position. */
export function gridCell(page: Page, row: number, col: number) {
  return page.locator(
    `[role=row][aria-rowindex="${row + 1}"] [role=gridcell][aria-colindex="${col + 1}"]`,
  );
}

/** The text a cell shows, without its validated / stale marks. */
export function cellText(page: Page, row: number, col: number): Promise<string> {
  return gridCell(page, row, col).evaluate((element) =>
    [...element.childNodes]
      .filter((node) => !(node instanceof Element && node.matches('.validated-mark, .stale-mark')))
      .map((node) => node.textContent ?? '')
      .join(''),
  );
}

export const system = systemActor;

/** The CSRF token of the signed-in page's session (`GET /api/auth/me`). */
export async function csrfToken(page: Page, serverUrl: string): Promise<string> {
  const me = await page.request.get(`${serverUrl}/api/auth/me`);
  return ((await me.json()) as { csrfToken: string }).csrfToken;
}

/**
 * Connects `tools/fake-llm` (at `fakeUrl`) as the project's provider "Fake" through the API,
 * speaking the OpenAI protocol; answers the provider's id, and throws with the response when
 * it is not created.
 */
export async function addFakeProvider(
  page: Page,
  serverUrl: string,
  projectId: string,
  fakeUrl: string,
  apiKey: string,
): Promise<string> {
  const response = await page.request.post(`${serverUrl}/api/projects/${projectId}/llm/providers`, {
    headers: {
      'x-csrf-token': await csrfToken(page, serverUrl),
      'content-type': 'application/json',
    },
    data: JSON.stringify({ name: 'Fake', kind: 'openai', baseUrl: `${fakeUrl}/v1`, apiKey }),
  });
  if (response.status() !== 201)
    throw new Error(`provider not created: ${response.status()} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

export interface BrowserSuite extends TestPage {
  server: E2eServer;
  browser: Browser;
  /** The fake LLM server; only with the `fakeLlm` option. */
  fake: FakeLlm;
  /** The project the first-run set-up made; only with the `project` option. */
  projectId: string;
  /** The signed-in session's CSRF token; only with the `project` option. */
  csrf: string;
  /** The fake LLM as the project's provider "Fake"; only with the `providerKey` option. */
  providerId: string;
  /**
   * A request of the signed-in session (`GET`, `POST`, …; `path` from the server's root) with
   * its CSRF token, and `data` as a JSON body when given.
   */
  send(method: string, path: string, data?: unknown): Promise<APIResponse>;
}

/**
 * A real server, Chromium and one page for the tests of the enclosing file or `describe`,
 * opened before them and closed after them (perSuite: a stand-in that reads the open suite).
 * With `project`, the first-run set-up signs in and makes that project, and the session's CSRF
 * token is read for `send`; with `fakeLlm`, `tools/fake-llm` runs beside the server.
 */
export function browserSuite(
  options: {
    server?: Partial<Config>;
    fakeLlm?: FakeLlmOptions;
    viewport?: { width: number; height: number };
    project?: string;
    /** With `fakeLlm` and `project`: connects the fake LLM as the project's provider with this key. */
    providerKey?: string;
  } = {},
): BrowserSuite {
  return perSuite<BrowserSuite & { close(): Promise<void> }>(
    async () => {
      const [server, browser, fake] = await Promise.all([
        startE2eServer(options.server),
        launchBrowser(),
        options.fakeLlm ? startFakeLlm(options.fakeLlm) : undefined,
      ]);
      const close = async () => {
        await browser.close();
        await fake?.close();
        await server.close();
      };
      try {
        const tab = await openPage(browser, options.viewport);
        const projectId =
          options.project === undefined
            ? undefined
            : await setUpInstance(tab.page, server.url, options.project);
        const csrf = projectId === undefined ? undefined : await csrfToken(tab.page, server.url);
        const providerId =
          options.providerKey === undefined
            ? undefined
            : await addFakeProvider(
                tab.page,
                server.url,
                projectId!,
                fake!.url,
                options.providerKey,
              );
        const send: BrowserSuite['send'] = async (method, path, data) =>
          tab.page.request.fetch(`${server.url}${path}`, {
            method,
            headers: {
              // Without `project` the test signs in itself: the token of its session then.
              'x-csrf-token': csrf ?? (await csrfToken(tab.page, server.url)),
              ...(data === undefined ? {} : { 'content-type': 'application/json' }),
            },
            ...(data === undefined ? {} : { data: JSON.stringify(data) }),
          });
        // `fake`, `projectId` and `csrf` are undefined when not asked for (see their docs).
        return {
          ...tab,
          server,
          browser,
          fake: fake!,
          projectId: projectId!,
          csrf: csrf!,
          providerId: providerId!,
          send,
          close,
        };
      } catch (error) {
        // The set-up failed half way: nothing it started outlives the file.
        await close();
        throw error;
      }
    },
    (suite) => suite.close(),
  );
}

/** Dispatches a paste of `text` on the grid (headless Chromium has no system clipboard). */
export function pasteText(grid: Locator, text: string): Promise<void> {
  return grid.evaluate((element, clipboard) => {
    const data = new DataTransfer();
    data.setData('text/plain', clipboard);
    element.dispatchEvent(
      new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }),
    );
  }, text);
}
