import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDuckDb } from '../platform/duckdb/duckdb.ts';
import { uuidv7 } from '../platform/ids.ts';
import { emptyImportResult, type ImportResult, importTree } from './monitor-import.ts';
import { createMonitorStore } from './monitor-store.ts';
import { ensureMonitorTables } from './monitor-tables.ts';
import { claudeCallTranscript } from './monitor-test-helpers.ts';
import { startWatch, type Watch } from './monitor-watch.ts';

const EMPTY: ImportResult = emptyImportResult();

describe('monitor watch: idle', () => {
  let dir: string;
  let watch: Watch | undefined;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-idle-'));
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await watch?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('calls onIdle once per quiet spell after a cycle, never while a cycle runs', async () => {
    const releases: (() => void)[] = [];
    const reasons: string[] = [];
    let idles = 0;
    watch = startWatch({
      root: dir,
      run: (reason) => {
        reasons.push(reason);
        return new Promise((resolve) => releases.push(() => resolve(EMPTY)));
      },
      onCycle: () => {},
      onError: (error) => {
        throw error;
      },
      onIdle: () => idles++,
      idleMs: 1_000,
      reconcileMs: 60_000,
    });
    expect(reasons).toEqual(['start']);
    // The start cycle is still running: however long it takes, the watch is not idle.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(idles).toBe(0);
    releases.shift()!();
    await vi.advanceTimersByTimeAsync(999);
    expect(idles).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(idles).toBe(1);
    // Quiet for longer: still one call for the one spell.
    await vi.advanceTimersByTimeAsync(30_000);
    expect(idles).toBe(1);
    // The reconcile's cycle runs (the 60 s interval), then a new quiet spell.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(reasons).toEqual(['start', 'reconcile']);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(idles).toBe(1);
    releases.shift()!();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(idles).toBe(2);
  });

  it('without onIdle arms no timer', async () => {
    watch = startWatch({
      root: dir,
      run: async () => EMPTY,
      onCycle: () => {},
      onError: (error) => {
        throw error;
      },
      reconcileMs: 60_000,
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1); // the reconcile interval alone
  });
});

describe('monitor store: the WAL an idle watch checkpoints', () => {
  it('counts the bytes an import leaves in the WAL, and none once checkpointed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'monitor-wal-'));
    const duckdb = await openDuckDb({ path: path.join(dir, 'm.duckdb'), connections: 2 });
    try {
      await ensureMonitorTables(duckdb);
      const store = createMonitorStore(duckdb);
      duckdb.checkpointSoon();
      await duckdb.checkpointsSettled();
      expect(store.walBytes()).toBe(0);
      const root = path.join(dir, 'projects', '-home-dev-app');
      mkdirSync(root, { recursive: true });
      const sessionId = '00000000-0000-4000-8000-000000000001';
      writeFileSync(
        path.join(root, `${sessionId}.jsonl`),
        claudeCallTranscript(sessionId, { output: 7 }),
      );
      const projectId = uuidv7();
      await importTree({
        store,
        projectId,
        root: path.join(dir, 'projects'),
        source: 'claude-code',
      });
      expect(store.walBytes()).toBeGreaterThan(0);
      store.checkpointSoon();
      await duckdb.checkpointsSettled();
      expect(store.walBytes()).toBe(0);
      const [row] = await store.sessionReport({ projectId, since: undefined });
      expect(row!.tokens.output).toBe(7);
    } finally {
      await duckdb.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an in-memory database has no WAL', async () => {
    const duckdb = await openDuckDb({ path: ':memory:', connections: 1, threads: 1 });
    try {
      expect(createMonitorStore(duckdb).walBytes()).toBe(0);
    } finally {
      await duckdb.close();
    }
  });
});
