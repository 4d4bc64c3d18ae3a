import { mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../platform/ids.ts';
import { importTree } from './monitor-import.ts';
import { openCodeJsonKind } from './monitor-opencode-parser.ts';
import {
  monitorTestStore,
  OPENCODE,
  OPENCODE_CHILD,
  OPENCODE_ROOT,
  openMonitorTestStore,
  writeOpenCodeStorage,
} from './monitor-test-helpers.ts';

// OpenCode JSON files are written in large batches (monitor-import.ts JSON_BATCH_FILES); where a
// batch ends changes no count, and the paths found are the same however the root is spelled.
describe('monitor import of OpenCode JSON: batches and paths', () => {
  const env = monitorTestStore('monitor-import-batches-');

  const sessionTokens = async (projectId: string) =>
    (await env.store.sessionReport({ projectId, since: undefined }))
      .map((row) => [row.sessionId, row.tokens, row.costNano] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));

  it.each([
    ['2 files', { files: 2 }],
    ['1 byte', { bytes: 1 }],
  ])(
    'counts the same whether the files fit one batch or are cut into batches of %s',
    async (name, jsonBatch) => {
      // The batches written, counted by a store that passes them on.
      const batches: number[] = [];
      const counting = (projectId: string) => ({
        ...env.store,
        replaceFiles: (id: string, writes: Parameters<typeof env.store.replaceFiles>[1]) => {
          if (id === projectId) batches.push(writes.length);
          return env.store.replaceFiles(id, writes);
        },
      });
      const storage = writeOpenCodeStorage(path.join(env.dir, `batches-${name}`));
      const whole = uuidv7();
      const cut = uuidv7();
      const one = await importTree({
        store: counting(whole),
        projectId: whole,
        root: storage,
        source: 'opencode',
      });
      // Sessions, then messages, then parts: cut that small, every step-finish part lands in a
      // later batch than its message, whose own tokens stop counting only then.
      // Sessions and messages are written before the first part, whose message is read back.
      expect(batches).toEqual([6, 5]);
      batches.length = 0;
      const many = await importTree({
        store: counting(cut),
        projectId: cut,
        root: storage,
        source: 'opencode',
        jsonBatch,
      });
      expect(many).toEqual(one);
      expect(batches.length).toBeGreaterThanOrEqual(6);
      expect(one).toMatchObject({ files: 2 + 4 + 5, badLines: 0, sessions: 2, usageEvents: 3 + 1 });
      const tokens = await sessionTokens(cut);
      expect(tokens).toEqual(await sessionTokens(whole));
      expect(tokens.map(([sessionId, buckets]) => [sessionId, buckets])).toEqual([
        ['ses_child', OPENCODE_CHILD],
        ['ses_root', OPENCODE_ROOT],
      ]);
      // Every message's own tokens are stored (the raw record), counted only without steps.
      const events = async (projectId: string) =>
        (
          await env.duckdb.query(
            `select event_key, counted from monitor_usage_event where project_id = $1
           order by event_key`,
            [projectId],
          )
        ).map((row) => [String(row.event_key), row.counted] as const);
      const cutEvents = await events(cut);
      expect(cutEvents).toEqual(await events(whole));
      expect(cutEvents.filter(([, counted]) => counted)).toHaveLength(4);
      expect(cutEvents.filter(([key]) => key.startsWith('oc:msg:')).length).toBeGreaterThan(0);
    },
  );

  it('stores normalized paths: a root with a trailing slash or .. segments finds the same files', async () => {
    const storage = writeOpenCodeStorage(path.join(env.dir, 'spelled'));
    const projectId = uuidv7();
    const first = await importTree({
      store: env.store,
      projectId,
      root: `${storage}/`,
      source: 'opencode',
    });
    expect(first.files).toBe(11);
    const stored = await env.duckdb.query(
      'select path from monitor_source_file where project_id = $1 order by path',
      [projectId],
    );
    for (const row of stored) {
      const file = String(row.path);
      expect(file).toBe(path.normalize(file));
      expect(file.startsWith(`${storage}${path.sep}`)).toBe(true);
    }
    const again = await importTree({
      store: env.store,
      projectId,
      root: path.join(storage, 'part', '..', '..', 'storage', '.'),
      source: 'opencode',
    });
    expect(again).toMatchObject({ files: 0, unchanged: 11, departed: 0 });
  });

  it('counts the same when a worker reads the files ahead, odd files and re-imports included', async () => {
    const storage = writeOpenCodeStorage(path.join(env.dir, 'read-ahead'));
    // Besides the fixture: a part over 1 MiB (the worker leaves it to the import's own
    // asynchronous read), a half-written file, a binary one.
    const partDir = path.join(storage, 'part', 'msg_2');
    writeFileSync(
      path.join(partDir, 'prt_long.json'),
      JSON.stringify({
        id: 'prt_long',
        sessionID: 'ses_root',
        messageID: 'msg_2',
        type: 'text',
        text: 'y'.repeat(1_100_000),
      }),
    );
    writeFileSync(path.join(partDir, 'prt_half.json'), '{"id": "prt_half", "sess');
    mkdirSync(path.join(storage, 'part', 'msg_bin'), { recursive: true });
    writeFileSync(
      path.join(storage, 'part', 'msg_bin', 'prt_bin.json'),
      Buffer.from([123, 0, 125]),
    );
    const importBoth = async (projectId: string, readAheadMinFiles: number) =>
      importTree({
        store: env.store,
        projectId,
        root: storage,
        source: 'opencode',
        readAheadMinFiles,
      });
    const here = uuidv7();
    const ahead = uuidv7();
    const first = await importBoth(here, Number.POSITIVE_INFINITY);
    expect(await importBoth(ahead, 0)).toEqual(first);
    expect(first).toMatchObject({
      files: 2 + 4 + 5 + 2,
      badLines: 1,
      refused: [{ reason: 'binary content (a NUL byte)' }],
    });
    const rows = async (projectId: string) =>
      (
        await env.duckdb.query(
          `select 'part' as t, part_id as id, length(text) as n from monitor_part where project_id = $1
           union all select 'file', replace(path, $2, ''), records from monitor_source_file where project_id = $1
           order by t, id`,
          [projectId, storage],
        )
      ).map((row) => [row.t, row.id, row.n]);
    expect(await rows(ahead)).toEqual(await rows(here));
    expect(await sessionTokens(ahead)).toEqual(await sessionTokens(here));
    // Again: nothing changed is read again; a touched file keeps its rows; an edited one is
    // read again — the same with the worker as without.
    expect(await importBoth(ahead, 0)).toMatchObject({ files: 0, unchanged: 13, departed: 0 });
    const touched = path.join(storage, 'session', 'proj', 'ses_child.json');
    const later = new Date(statSync(touched).mtimeMs + 5_000);
    utimesSync(touched, later, later);
    writeFileSync(
      path.join(partDir, 'prt_half.json'),
      JSON.stringify({
        id: 'prt_half',
        sessionID: 'ses_root',
        messageID: 'msg_2',
        type: 'text',
        text: 'done',
      }),
    );
    const again = await importBoth(here, Number.POSITIVE_INFINITY);
    expect(again).toMatchObject({ files: 1, records: 1, badLines: 0, unchanged: 12 });
    expect(await importBoth(ahead, 0)).toEqual(again);
    expect(await rows(ahead)).toEqual(await rows(here));
    expect(await sessionTokens(ahead)).toEqual(await sessionTokens(here));
  });

  it('stores the instants of the logs whatever the time zone of DuckDB (timestamps appended as such)', async () => {
    const own = await openMonitorTestStore('monitor-import-zone-');
    try {
      await own.duckdb.run("set global TimeZone = 'America/New_York'");
      const storage = writeOpenCodeStorage(own.dir);
      const projectId = uuidv7();
      await importTree({ store: own.store, projectId, root: storage, source: 'opencode' });
      const created = await own.duckdb.query(
        `select message_id, epoch_ms(created_at) as ms, strftime(created_at, '%z') as zone
         from monitor_message where project_id = $1 order by message_id`,
        [projectId],
      );
      expect(created.map((row) => [row.message_id, Number(row.ms)])).toEqual(
        [...OPENCODE.messages]
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .map((message) => [message.id, message.time.created]),
      );
      // Read in New York time: the same instants, shown at their offset there.
      expect(created.map((row) => row.zone)).toContain('-05');
      const sessions = await own.duckdb.query(
        'select epoch_ms(min(started_at)) as ms from monitor_session where project_id = $1',
        [projectId],
      );
      expect(Number(sessions[0]!.ms)).toBe(
        Math.min(...OPENCODE.sessions.map((session) => session.time.created)),
      );
    } finally {
      await own.close();
    }
  });

  it.each([
    ['session/proj/ses_1.json', 'session'],
    ['message/ses_1/msg_1.json', 'message'],
    ['part/msg_1/prt_1.json', 'part'],
    ['storage/part/msg_1/prt_1.json', 'part'],
    ['storage\\part\\msg_1\\prt_1.json', 'part'],
    ['/part/msg_1/prt_1.json', 'part'],
    ['part/prt_1.json', null],
    ['/msg_1/prt_1.json', null],
    ['part/msg_1/prt_1.jsonl', null],
    ['part/msg_1/', null],
    ['parts/msg_1/prt_1.json', null],
    ['x/part/msg_1/sub/prt_1.json', null],
  ])('tells an OpenCode JSON file by its folder: %s → %s', (relative, kind) => {
    expect(openCodeJsonKind(relative)).toBe(kind);
  });
});
