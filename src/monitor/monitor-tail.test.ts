import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../platform/ids.ts';
import { importTree } from './monitor-import.ts';
import type { MonitorStore } from './monitor-store.ts';
import {
  CLAUDE_SESSION,
  openMonitorTestStore,
  writeClaudeProjects,
} from './monitor-test-helpers.ts';

// Live tailing must end where a fresh import of the final files ends: every report the same.
describe('monitor tailing of Claude Code transcripts', () => {
  let dir: string;
  let store: MonitorStore;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ dir, store, close } = await openMonitorTestStore('monitor-tail-'));
  });
  afterAll(() => close());

  async function everything(projectId: string) {
    const filter = { projectId, since: undefined };
    const files = (await store.files(projectId)).map(({ fileId, indexedAt, ...file }) => file);
    const sessions = await store.sessionReport(filter);
    const parts = await Promise.all(
      sessions.map((session) => store.sessionParts(projectId, session.sessionKey, 1000)),
    );
    return {
      sessions,
      parts,
      days: await store.dayReport(filter, 'Europe/Paris'),
      models: await store.modelReport(filter),
      tools: await store.toolReport(filter, 5),
      files,
    };
  }

  async function importInto(projectId: string, root: string) {
    return importTree({ store, projectId, root, source: 'claude-code' });
  }

  it('reads only what was appended, and ends with the rows of a whole read', async () => {
    const growing = path.join(dir, 'growing');
    const { projects, mainFile } = writeClaudeProjects(growing);
    // The fixture ends mid-line; the writer finishes that line later.
    const full = `${readFileSync(mainFile, 'utf8')}"}\n`;
    const cuts = [0.12, 0.3, 0.47, 0.62, 0.8, 0.97].map((share) => Math.floor(full.length * share));
    const live = uuidv7();
    writeFileSync(mainFile, full.slice(0, cuts[0]));
    await importInto(live, projects);
    let previousCut = cuts[0]!;
    for (const cut of [...cuts.slice(1), full.length]) {
      appendFileSync(mainFile, full.slice(previousCut, cut));
      previousCut = cut;
      const result = await importInto(live, projects);
      expect(result).toMatchObject({ files: 1, failed: [] });
      // Only the tail was read: the head's hash is not known.
      const state = (await store.fileStates(live)).get(mainFile)!;
      expect(state).toMatchObject({ contentHash: null, status: 'imported' });
      expect(state.parserState).toContain('"checkpoint"');
    }

    const fresh = uuidv7();
    await importInto(fresh, projects);
    const ours = await everything(live);
    const whole = await everything(fresh);
    expect(ours).toEqual(whole);
    // Sanity: the fixture's hand-counted totals (main session: output 322, the sub-agent typed).
    const main = ours.sessions.find((row) => row.sessionKey === `cc:${CLAUDE_SESSION}`)!;
    expect(main.tokens.output).toBe(322);
    expect(ours.sessions.find((row) => row.agentId === 'aac57f5')?.agentType).toBe('Explore');
    // Importing again changes nothing.
    expect(await importInto(live, projects)).toMatchObject({ files: 0, unchanged: 3 });
  });

  /** Imports the changed file into `live`: read whole (its hash known), it ends as a fresh import. */
  async function expectReadWhole(live: string, projects: string, mainFile: string) {
    await importInto(live, projects);
    const state = (await store.fileStates(live)).get(mainFile)!;
    expect(state.contentHash).not.toBeNull();
    const fresh = uuidv7();
    await importInto(fresh, projects);
    expect(await everything(live)).toEqual(await everything(fresh));
  }

  it('reads a truncated, rewritten or replaced transcript whole again', async () => {
    const root = path.join(dir, 'rewritten');
    const { projects, mainFile } = writeClaudeProjects(root);
    const full = readFileSync(mainFile, 'utf8');
    const live = uuidv7();
    await importInto(live, projects);

    // Truncated: shorter than what was read.
    writeFileSync(mainFile, full.slice(0, Math.floor(full.length / 2)));
    await expectReadWhole(live, projects, mainFile);

    // Rewritten in place near the end of what was read, then grown: read whole.
    const half = readFileSync(mainFile, 'utf8');
    const edited = half.replace('"output_tokens":50', '"output_tokens":70');
    expect(edited).not.toBe(half);
    writeFileSync(mainFile, `${edited}\n`);
    await expectReadWhole(live, projects, mainFile);

    // Replaced by another file (a new inode) that is longer: read whole.
    rmSync(mainFile);
    writeFileSync(mainFile, full);
    await expectReadWhole(live, projects, mainFile);
  });

  it('asks for a background checkpoint after a bulk import, not after a live cycle', async () => {
    const root = path.join(dir, 'bulk');
    const folder = path.join(root, '-home-dev-bulk');
    mkdirSync(folder, { recursive: true });
    const sessionId = '00000000-0000-4000-8000-00000000b01c';
    const file = path.join(folder, `${sessionId}.jsonl`);
    let call = 0;
    // One API call: a message, its text part and its usage — three rows.
    const lines = (count: number) =>
      Array.from({ length: count }, () => {
        call++;
        return JSON.stringify({
          type: 'assistant',
          sessionId,
          uuid: `00000000-0000-4000-9000-${String(call).padStart(12, '0')}`,
          timestamp: new Date(1768039200000 + call * 1000).toISOString(),
          message: {
            id: `msg_${call}`,
            model: 'claude-sonnet-4-5-20250929',
            role: 'assistant',
            content: [{ type: 'text', text: 'y' }],
            usage: { input_tokens: 10, output_tokens: 3 },
          },
        });
      }).join('\n');
    let asked = 0;
    const counting: MonitorStore = {
      ...store,
      checkpointSoon() {
        asked++;
        store.checkpointSoon();
      },
    };
    const projectId = uuidv7();
    const cycle = () =>
      importTree({ store: counting, projectId, root, source: 'claude-code', bulkImportRows: 60 });
    writeFileSync(file, `${lines(20)}\n`);
    expect(await cycle()).toMatchObject({ records: 20, usageEvents: 20 });
    expect(asked).toBe(1);
    // 19 calls are 57 rows: a live cycle's.
    appendFileSync(file, `${lines(19)}\n`);
    expect(await cycle()).toMatchObject({ records: 19 });
    expect(asked).toBe(1);
    appendFileSync(file, `${lines(20)}\n`);
    await cycle();
    expect(asked).toBe(2);
  });
});
