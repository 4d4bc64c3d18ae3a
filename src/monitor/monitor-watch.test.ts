import { mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.ts';
import { createProjectWithMembers, type ProjectWithMembers } from '../../test/factories.ts';
import { createTestApp, type TestApp } from '../../test/test-platform.ts';
import {
  claudeCallTranscript,
  insertOpenCodeRows,
  OPENCODE_CHILD,
  OPENCODE_ROOT,
  openCodeStep,
  writeOpenCodeDb,
  writeOpenCodeStorage,
} from './monitor-test-helpers.ts';
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
    writeFileSync(
      path.join(root, 'app', 'before.jsonl'),
      claudeCallTranscript('before', { output: 100 }),
    );
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
    writeFileSync(
      path.join(root, 'app', 'live.jsonl'),
      claudeCallTranscript('live', { output: 200 }),
    );
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

  it('picks up rows OpenCode writes into a live opencode.db (WAL, held open) and new JSON files', async () => {
    const data = path.join(dir, 'opencode');
    const file = writeOpenCodeDb(data);
    // OpenCode keeps its database open in WAL mode: new rows sit in opencode.db-wal.
    const writer = new DatabaseSync(file);
    writer.exec('pragma journal_mode = wal');
    const other = await createProjectWithMembers(t);
    const output = async () =>
      (await t.app.monitor.modelReport(other.viewer.actor, other.project.id)).reduce(
        (sum, row) => sum + row.tokens.output,
        0,
      );
    const before = OPENCODE_ROOT.output + OPENCODE_CHILD.output;
    const errors: unknown[] = [];
    const log = cycleLog();
    const started = log.next((cycle) => cycle.reason === 'start');
    const live = await t.app.monitor.watchLocalPath(other.editor.actor, other.project.id, {
      path: data,
      source: 'opencode',
      onCycle: log.push,
      onError: (error) => errors.push(error),
      debounceMs: 20,
    });
    try {
      expect((await started).result).toMatchObject({ files: 1 });
      expect(await output()).toBe(before);

      // A new session with one model call, written while the watch runs and the writer
      // still holds the database open (no checkpoint into opencode.db).
      insertOpenCodeRows(writer, openCodeStep('live', { input: 7, output: 1000 }));
      await eventually(output, (total) => total === before + 1000, {
        what: 'the cycle reading the rows added to opencode.db',
      });
      // Another, after a checkpoint moved the first into opencode.db itself.
      writer.exec('pragma wal_checkpoint(truncate)');
      insertOpenCodeRows(writer, openCodeStep('later', { input: 3, output: 20000 }));
      await eventually(output, (total) => total === before + 21000, {
        what: 'the cycle reading the rows added after a checkpoint',
      });

      // The legacy JSON tree beside it: a new session's files, read as they appear.
      writeOpenCodeStorage(data, openCodeStep('json', { input: 1, output: 300000 }));
      await eventually(output, (total) => total === before + 321000, {
        what: 'the cycle reading the new JSON files',
      });
      const sessions = await t.app.monitor.sessionReport(other.viewer.actor, other.project.id);
      expect(sessions.map((row) => row.sessionId)).toEqual(
        expect.arrayContaining(['ses_live', 'ses_later', 'ses_json']),
      );
      expect(errors).toEqual([]);
    } finally {
      writer.close();
      await live.close();
    }
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
