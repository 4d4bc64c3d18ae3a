import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../../src/auth/system-actor.ts';
import {
  claudeCallTranscript,
  writeClaudeProjects,
} from '../../src/monitor/monitor-test-helpers.ts';
import {
  type E2eServer,
  launchBrowser,
  openPage,
  screenshot,
  setUpInstance,
  type TestPage,
} from './e2e-harness.ts';

/** The Monitor page: empty state, then the imported fixture's days, models and sessions. */
describe('monitor page', () => {
  let server: E2eServer;
  let browser: Browser;
  let tab: TestPage;
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'braincells-e2e-monitor-')));
  let projectId: string;

  beforeAll(async () => {
    const { startE2eServer } = await import('./e2e-harness.ts');
    // The server may watch folders under `dir` (the live badge test).
    [server, browser] = await Promise.all([
      startE2eServer({ monitor: { roots: [dir] } }),
      launchBrowser(),
    ]);
    tab = await openPage(browser);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the empty state, then tokens per day, models and sessions of imported logs', async () => {
    const { page, errors } = tab;
    projectId = await setUpInstance(page, server.url, 'Monitor project');
    await page.getByRole('link', { name: 'Monitor' }).click();
    await page.waitForURL(/\/monitor$/);
    await page.getByTestId('monitor-empty').waitFor();

    const { projects } = writeClaudeProjects(dir);
    await server.t.app.monitor.importLocalPath(systemActor(), projectId, {
      path: projects,
      source: 'auto',
    });
    await page.reload();
    const sessions = page.getByTestId('monitor-sessions');
    await sessions.waitFor();
    // The main session and its two agents (Explore, compaction).
    await expect.poll(() => sessions.locator('tbody tr').count()).toBe(3);
    expect(await sessions.textContent()).toContain('Explore');
    const models = page.getByTestId('monitor-models');
    const unknownRow = models.locator('tr', { hasText: 'my-private-model' });
    expect(await unknownRow.textContent()).toContain('unknown');
    // The chart draws after its query answers: waited for, not raced.
    await expect
      .poll(() => page.getByRole('img', { name: 'Tokens per day by bucket' }).count())
      .toBe(1);
    // Breakdowns: the fixture's lines name branch main; its agents count under it.
    const breakdown = page.getByTestId('monitor-breakdown');
    // Its table fills after its own query answers: waited for too (it raced in a slow CI run).
    await expect.poll(() => breakdown.locator('tbody tr', { hasText: 'main' }).count()).toBe(1);
    await page.getByRole('combobox', { name: 'Group usage by' }).selectOption('project');
    await expect
      .poll(() => breakdown.locator('tbody tr', { hasText: '/home/dev/app' }).count())
      .toBe(1);
    // Tool analytics: the fixture's one Task call, answered.
    const tools = page.getByTestId('monitor-tools');
    expect(await tools.locator('tr', { hasText: 'Task' }).textContent()).toContain('0 (0.0%)');

    const filter = page.getByRole('searchbox', { name: 'Filter sessions' });
    await filter.fill('Explore');
    await expect.poll(() => sessions.locator('tbody tr').count()).toBe(1);

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'CSV' }).last().click();
    const file = await download;
    expect(file.suggestedFilename()).toBe('monitor-sessions.csv');
    await screenshot(page, 'monitor');
    // The one 401 is the session probe before first-run setup.
    expect(errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it('opens a session: its agent trace, tokens per step, tool calls and transcript', async () => {
    const { page, errors } = tab;
    const sessions = page.getByTestId('monitor-sessions');
    await page.getByRole('searchbox', { name: 'Filter sessions' }).fill('');
    await expect.poll(() => sessions.locator('tbody tr').count()).toBe(3);
    // The main session is the row that is no one's sub-agent.
    await sessions.locator('tbody tr a', { hasNotText: '↳' }).first().click();
    await page.waitForURL(/\/monitor\/sessions\/cc%3A/);

    const trace = page.getByTestId('monitor-session-trace');
    await trace.waitFor();
    // The session, then its two agents (Explore, compaction), indented under it.
    await expect.poll(() => trace.locator('tbody tr').count()).toBe(3);
    expect(await trace.locator('tbody tr').nth(1).textContent()).toMatch(/↳/);
    // Its own output (322) and with its agents (322 + 40 + 2), as the API counts them.
    const root = trace.locator('tbody tr').first();
    expect(await root.textContent()).toContain('322');
    expect(await root.textContent()).toContain('364');

    const steps = page.getByTestId('monitor-session-steps');
    const stepOutputs = await steps.locator('tbody tr td:nth-child(4)').allTextContents();
    expect(stepOutputs.reduce((sum, text) => sum + Number(text.replace(/\D/g, '')), 0)).toBe(322);
    await expect
      .poll(() => page.getByRole('img', { name: 'Tokens per step by bucket' }).count())
      .toBe(1);
    const tools = page.getByTestId('monitor-session-tools');
    expect(await tools.locator('tbody tr', { hasText: 'Task' }).count()).toBe(1);
    expect(
      await page.getByTestId('monitor-session-transcript').locator('tbody tr').count(),
    ).toBeGreaterThan(0);

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'CSV' }).nth(1).click();
    expect((await download).suggestedFilename()).toBe('monitor-session-steps.csv');

    // A sub-agent's own page: the trace starts at it.
    await trace.getByRole('link', { name: 'Explore' }).click();
    await expect
      .poll(async () => (await page.getByTestId('monitor-session-title').textContent()) ?? '')
      .toContain('Explore');
    await expect.poll(() => trace.locator('tbody tr').count()).toBe(1);
    await screenshot(page, 'monitor-session');
    expect(errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });

  it('the live badge shows the last cycle, and the page reloads when a cycle imported something', async () => {
    const { page, errors } = tab;
    const watched = path.join(dir, 'watched', '-home-dev-live');
    mkdirSync(watched, { recursive: true });
    await page.goto(`${server.url}/projects/${projectId}/monitor`);
    const sessions = page.getByTestId('monitor-sessions');
    await expect.poll(() => sessions.locator('tbody tr').count()).toBe(3);

    // Switch the server's watch on for an empty folder: its first cycle imports nothing.
    const panel = page.getByTestId('monitor-watch');
    await panel.getByRole('checkbox', { name: 'Watch a server folder' }).check();
    await panel.getByRole('textbox', { name: 'Folder to watch' }).fill(path.dirname(watched));
    await panel.getByRole('button', { name: 'Save' }).click();
    // The badge appears once a cycle is recorded (the page polls GET …/watch every 5 s).
    const badge = page.getByTestId('monitor-live');
    await expect.poll(() => badge.count(), { timeout: 60_000 }).toBe(1);
    expect(await badge.textContent()).toMatch(/^live · last cycle \S/);
    expect(await badge.textContent()).not.toContain('—');
    expect(await sessions.locator('tbody tr').count()).toBe(3);

    // An agent writes a transcript into the watched folder: a cycle imports it, the badge's
    // poll sees lastImportAt move, and the page reloads its reports — no reload by the test.
    const sessionId = 'a11ce000-0000-4000-8000-0000000000bb';
    writeFileSync(
      path.join(watched, `${sessionId}.jsonl`),
      claudeCallTranscript(sessionId, { output: 4242 }),
    );
    await expect.poll(() => sessions.locator('tbody tr').count(), { timeout: 60_000 }).toBe(4);
    expect(await sessions.textContent()).toContain(sessionId.slice(0, 8));
    await screenshot(page, 'monitor-live');
    expect(errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });
});
