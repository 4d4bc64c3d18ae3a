import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { createProjectWithMembers, type TestSession } from '../../test/factories.ts';
import { monitorTestApp } from './monitor-test-app.ts';
import {
  CLAUDE_SESSION,
  claudeCallTranscript,
  insertOpenCodeRows,
  openCodeStep,
  writeClaudeProjects,
  writeOpenCodeDb,
} from './monitor-test-helpers.ts';

// The server watches a project's folder while its setting is on: started with the server (or
// when switched on), its cycles recorded in PostgreSQL for the live badge, stopped on close.
const env = monitorTestApp('monitor-server-watch-', {
  roots: (dir) => [path.join(dir, 'allowed')],
});
const root = path.join(env.dir, 'allowed');
const outside = path.join(env.dir, 'outside');
let projects: string;

beforeAll(() => {
  mkdirSync(outside, { recursive: true });
  ({ projects } = writeClaudeProjects(root));
});

const url = () => `/api/projects/${env.team.project.id}/monitor/watch`;

function inject(session: TestSession, method: 'GET' | 'PUT', target: string, payload?: unknown) {
  return env.t.app.inject({
    method,
    url: target,
    headers: session.headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

interface WatchView {
  enabled: boolean;
  path: string | null;
  live: boolean;
  watchingHere: boolean;
  lastCycleAt: string | null;
  lastImportAt: string | null;
  lastError: string | null;
}

const watchOf = async (): Promise<WatchView> =>
  (await inject(env.team.viewer, 'GET', url())).json() as WatchView;

const sessionIds = async () =>
  (
    (
      await inject(env.team.viewer, 'GET', `/api/projects/${env.team.project.id}/monitor/sessions`)
    ).json().items as { sessionId: string }[]
  ).map((row) => row.sessionId);

describe('monitor server-side watch', () => {
  it('refuses folders outside the roots, a missing path, and viewers', async () => {
    expect(await watchOf()).toMatchObject({ enabled: false, path: null, live: false });

    const outsideRoot = await inject(env.team.editor, 'PUT', url(), {
      enabled: true,
      path: outside,
    });
    expect(outsideRoot.statusCode).toBe(403);
    expect(outsideRoot.json().error.message).toContain('BRAINCELLS_MONITOR_ROOTS');
    // Traversal out of the root, as written.
    const traversal = await inject(env.team.editor, 'PUT', url(), {
      enabled: true,
      path: `${root}/../outside`,
    });
    expect(traversal.statusCode).toBe(403);
    expect(JSON.stringify(traversal.json())).not.toContain(env.dir);

    const missing = await inject(env.team.editor, 'PUT', url(), {
      enabled: true,
      path: path.join(root, 'nothing-here'),
    });
    expect(missing.statusCode).toBe(404);

    const noPath = await inject(env.team.editor, 'PUT', url(), { enabled: true });
    expect(noPath.statusCode).toBe(400);
    expect(noPath.json().error.details.issues[0].path).toBe('path');

    const control = await inject(env.team.editor, 'PUT', url(), {
      enabled: true,
      path: `${root}\n`,
    });
    expect(control.statusCode).toBe(400);

    expect(
      (await inject(env.team.viewer, 'PUT', url(), { enabled: true, path: root })).statusCode,
    ).toBe(403);
    expect((await inject(env.team.outsider, 'GET', url())).statusCode).toBe(404);
    expect(await watchOf()).toMatchObject({ enabled: false, path: null });
  });

  it('imports the folder, then each change; the badge goes live; switching off stops it', async () => {
    const on = await inject(env.team.editor, 'PUT', url(), { enabled: true, path: projects });
    expect(on.statusCode).toBe(200);
    expect(on.json()).toMatchObject({ enabled: true, watchingHere: true });
    // Shown as the files list shows paths: under the root's folder name.
    expect(on.json().path).toBe(path.join(path.basename(root), 'projects'));

    const first = await eventually(watchOf, (watch) => watch.live && watch.lastImportAt !== null, {
      what: 'the first cycle',
    });
    expect(first.lastError).toBeNull();
    expect(await sessionIds()).toContain(CLAUDE_SESSION);

    // A new transcript: the next cycle imports it, and lastImportAt moves (what the page polls).
    const newSession = '7d0c1f4e-2b1a-4c3d-9e8f-0000000000aa';
    writeFileSync(
      path.join(projects, '-home-dev-app', `${newSession}.jsonl`),
      claudeCallTranscript(newSession, { output: 2 }),
    );
    await eventually(
      watchOf,
      (watch) => watch.lastImportAt !== null && watch.lastImportAt > first.lastImportAt!,
      { what: 'a cycle importing the new transcript' },
    );
    expect(await sessionIds()).toContain(newSession);

    // Server restart, as the app's hooks run it: stopped on close, started again for the
    // projects whose watch is on.
    await env.t.app.monitor.stopServerWatches();
    expect((await watchOf()).watchingHere).toBe(false);
    await env.t.app.monitor.startServerWatches();
    expect((await watchOf()).watchingHere).toBe(true);

    const off = await inject(env.team.editor, 'PUT', url(), { enabled: false });
    expect(off.statusCode).toBe(200);
    expect(off.json()).toMatchObject({ enabled: false, live: false, watchingHere: false });
    // Switching off keeps the folder, so switching on again needs no path.
    const again = await inject(env.team.editor, 'PUT', url(), { enabled: true });
    expect(again.json()).toMatchObject({ enabled: true, watchingHere: true });
  });

  it('reads the rows OpenCode adds to a live opencode.db', async () => {
    const data = path.join(root, 'opencode');
    const writer = new DatabaseSync(writeOpenCodeDb(data));
    writer.exec('pragma journal_mode = wal');
    const other = await createProjectWithMembers(env.t);
    const target = `/api/projects/${other.project.id}/monitor`;
    const watch = async () =>
      (await inject(other.viewer, 'GET', `${target}/watch`)).json() as WatchView;
    const sessions = async () =>
      (
        (await inject(other.viewer, 'GET', `${target}/sessions`)).json().items as {
          sessionId: string;
        }[]
      ).map((row) => row.sessionId);
    try {
      const on = await inject(other.editor, 'PUT', `${target}/watch`, {
        enabled: true,
        path: data,
        source: 'opencode',
      });
      expect(on.statusCode).toBe(200);
      const first = await eventually(watch, (view) => view.lastImportAt !== null, {
        what: 'the first cycle',
      });
      expect(await sessions()).toContain('ses_root');

      insertOpenCodeRows(writer, openCodeStep('server', { input: 5, output: 50 }));
      await eventually(sessions, (ids) => ids.includes('ses_server'), {
        what: 'a cycle reading the new rows',
      });
      const after = await watch();
      expect(after.lastImportAt! > first.lastImportAt!).toBe(true);
      expect(after.lastError).toBeNull();
    } finally {
      writer.close();
      await inject(other.editor, 'PUT', `${target}/watch`, { enabled: false });
    }
  });
});
