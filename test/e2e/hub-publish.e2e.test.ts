import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/platform/config.ts';
import { solidImage } from '../../src/sheets/images/image-test-fixtures.ts';
import { type FakeHub, startFakeHub } from '../../tools/fake-hub/fake-hub-server.ts';
import { registerTestSecret } from '../leak-scan.ts';
import {
  type E2eServer,
  launchBrowser,
  openPage,
  setUpInstance,
  startE2eServer,
  system,
  type TestPage,
} from './e2e-harness.ts';

const TOKEN = 'hf-fake-e2e-publish-token-5f3a';

/**
 * Issue 18 item 5 in the browser: "Publish to Hub…" on the datasets page sets the project's
 * token, publishes (a job) and shows the status until it is done — to a local Hub stand-in.
 */
describe('publish to the Hub from the datasets page', () => {
  let hub: FakeHub;
  let server: E2eServer;
  let browser: Browser;
  let tab: TestPage;

  beforeAll(async () => {
    registerTestSecret('provider-key', TOKEN);
    hub = await startFakeHub({ tokens: { [TOKEN]: 'tester' } });
    const base = loadConfig({}, {});
    [server, browser] = await Promise.all([
      startE2eServer({ sheets: { ...base.sheets, hfHubUrl: hub.url, hfToken: undefined } }),
      launchBrowser(),
    ]);
    tab = await openPage(browser);
    const projectId = await setUpInstance(tab.page, server.url, 'Hub project');
    const stored = await server.t.app.features.images.images.storeImage(projectId, {
      name: 'red.png',
      bytes: Buffer.from(await solidImage('png', { width: 16, height: 16 })),
    });
    if (!stored.ok) throw new Error(stored.reason);
    const dataset = await server.sheets.sheets.createDataset(system(), projectId, {
      name: 'Gallery',
      columns: [{ name: 'Photo', type: 'image' }],
    });
    await server.sheets.sheets.appendRows(system(), projectId, dataset.id, [
      { [dataset.columns[0]!.id]: stored.reference as never },
    ]);
    await tab.page.goto(`${server.url}/projects/${projectId}/datasets`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await hub?.close();
  });

  it('sets the token, publishes privately and shows the publish done', async () => {
    const { page } = tab;
    await page.getByRole('button', { name: 'Publish to Hub…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Publish “Gallery” to the Hub' });
    await dialog.waitFor();
    await dialog.getByLabel('Repository (owner/name)').fill('tester/gallery');
    await dialog.getByLabel(/Hugging Face token/).fill(TOKEN);
    await dialog.getByRole('button', { name: 'Publish' }).click();
    await dialog.getByText('Published to').waitFor({ timeout: 60_000 });
    expect(await dialog.getByRole('link', { name: 'tester/gallery' }).getAttribute('href')).toBe(
      `${hub.url}/datasets/tester/gallery`,
    );
    const repo = hub.repos.get('tester/gallery')!;
    expect(repo.private).toBe(true);
    expect([...repo.files.keys()].sort()).toEqual([
      'README.md',
      'braincells.json',
      'data/train-00000-of-00001.parquet',
    ]);
    // The token went into no page text.
    expect(await page.content()).not.toContain(TOKEN);
    expect(tab.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });
});
