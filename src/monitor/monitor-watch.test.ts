import { mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import type { Watch, WatchCycle } from './monitor-watch.ts';

let t: TestApp;
let team: ProjectWithMembers;
const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'monitor-watch-')));

beforeAll(async () => {
  t = await createTestApp({ startJobs: false });
  team = await createProjectWithMembers(t);
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

function transcript(sessionId: string, output: number): string {
  return `${JSON.stringify({
    type: 'assistant',
    sessionId,
    requestId: `req-${sessionId}`,
    timestamp: '2026-01-10T10:00:00.000Z',
    message: {
      id: `msg-${sessionId}`,
      model: 'claude-sonnet-4-5-20250929',
      usage: { input_tokens: 10, output_tokens: output },
    },
  })}\n`;
}

/** Cycles as they come, and a way to wait for the first one that matches. */
function cycleLog() {
  const seen: WatchCycle[] = [];
  const waiters: { match: (cycle: WatchCycle) => boolean; resolve: (cycle: WatchCycle) => void }[] =
    [];
  return {
    push(cycle: WatchCycle) {
      seen.push(cycle);
      for (const waiter of [...waiters]) {
        if (waiter.match(cycle)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(cycle);
        }
      }
    },
    /** The next cycle from now on that matches. */
    next(match: (cycle: WatchCycle) => boolean): Promise<WatchCycle> {
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    seen,
  };
}

describe('monitor watch', () => {
  let watch: Watch | undefined;
  afterAll(async () => watch?.close());

  it('imports what was written while stopped, then new files, then sees a move without counting twice', async () => {
    const root = path.join(dir, 'projects');
    mkdirSync(path.join(root, 'app'), { recursive: true });
    writeFileSync(path.join(root, 'app', 'before.jsonl'), transcript('before', 100));
    const log = cycleLog();
    const errors: unknown[] = [];
    const started = log.next((cycle) => cycle.reason === 'start');
    watch = await t.app.monitor.watchLocalPath(team.editor.actor, team.project.id, {
      path: root,
      source: 'claude-code',
      onCycle: log.push,
      onError: (error) => errors.push(error),
      debounceMs: 20,
    });
    expect((await started).result).toMatchObject({ files: 1, usageEvents: 1 });

    const written = log.next((cycle) => cycle.result.files > 0);
    writeFileSync(path.join(root, 'app', 'live.jsonl'), transcript('live', 200));
    expect((await written).result).toMatchObject({ files: 1, usageEvents: 1 });

    const total = async () =>
      (await t.app.monitor.modelReport(team.viewer.actor, team.project.id)).reduce(
        (sum, row) => sum + row.tokens.output,
        0,
      );
    expect(await total()).toBe(300);

    // A move: the old path departs (its rows kept), the new one is read; nothing doubles.
    const moved = log.next((cycle) => cycle.result.departed > 0);
    mkdirSync(path.join(root, 'other'));
    renameSync(path.join(root, 'app', 'live.jsonl'), path.join(root, 'other', 'live.jsonl'));
    await moved;
    expect(await total()).toBe(300);
    const files = await t.app.monitor.files(team.viewer.actor, team.project.id);
    expect(files.map((file) => [path.relative(root, file.path), file.status]).sort()).toEqual([
      ['app/before.jsonl', 'imported'],
      ['app/live.jsonl', 'departed'],
      ['other/live.jsonl', 'imported'],
    ]);
    expect(errors).toEqual([]);
  });

  it('needs the editor role', async () => {
    await expect(
      t.app.monitor.watchLocalPath(team.viewer.actor, team.project.id, {
        path: dir,
        source: 'auto',
        onCycle: () => {},
        onError: () => {},
      }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});
