import { describe, expect, it, vi } from 'vitest';
import { GROUP_LINGER_MS } from '../platform/grouped.ts';
import { createLogger } from '../platform/logger.ts';
import { usageRowFixture } from './llm-test-env.ts';
import { UsageRecorder } from './llm-usage-recorder.ts';
import type { UsageRow } from './llm-usage-store.ts';

const logger = createLogger({ level: 'silent', format: 'json' });

/** A recorder over a store that records what it was given (each write answers at once). */
function recording() {
  const written: string[] = [];
  const statements: number[] = [];
  const recorder = new UsageRecorder({
    store: {
      insert: async (rows: readonly UsageRow[]) => {
        written.push(...rows.map((row) => row.id));
        statements.push(rows.length);
      },
    },
    logger,
    flushMs: 60_000,
  });
  return { recorder, written, statements };
}

describe('the usage recorder (database durability)', () => {
  // A call's answer waits for its row: a row added while the previous write is settling — as
  // its callers go on, before the write's flag is down — must start or join a write, or that
  // call waits until some later call happens to flush (for ever, if none comes).
  it('writes a row added as the previous write settles, without another add to wake it', async () => {
    const { recorder, written } = recording();
    const first = usageRowFixture('project', { feature: 'chat' });
    const late = usageRowFixture('project', { feature: 'chat' });
    let lateAdded: Promise<void> | undefined;
    await recorder.add(first).then(() => {
      lateAdded = recorder.add(late);
    });
    await expect.poll(() => written).toEqual([first.id, late.id]);
    await lateAdded;
    expect(recorder.pending).toBe(0);
  });

  it('groups rows added during a write into the next write', async () => {
    const { recorder, written } = recording();
    const rows = [1, 2, 3].map(() => usageRowFixture('project', { feature: 'chat' }));
    await Promise.all(rows.map((row) => recorder.add(row)));
    expect(written).toEqual(rows.map((row) => row.id));
    expect(recorder.pending).toBe(0);
  });

  it("a run's rows linger for company: one statement for the rows of calls ending together", async () => {
    vi.useFakeTimers();
    try {
      const { recorder, written, statements } = recording();
      const rows = [1, 2, 3].map(() => usageRowFixture('project', { feature: 'sheet-cell' }));
      const added = [] as Promise<void>[];
      for (const row of rows) {
        added.push(recorder.add(row, 'database', true));
        await vi.advanceTimersByTimeAsync(GROUP_LINGER_MS / 4);
      }
      expect(written).toEqual([]);
      await vi.advanceTimersByTimeAsync(GROUP_LINGER_MS);
      await Promise.all(added);
      expect(written).toEqual(rows.map((row) => row.id));
      expect(statements).toEqual([3]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a row that may not linger takes the lingering ones along at once', async () => {
    vi.useFakeTimers();
    try {
      const { recorder, written, statements } = recording();
      const lingering = usageRowFixture('project', { feature: 'sheet-cell' });
      const urgent = usageRowFixture('project', { feature: 'chat' });
      const first = recorder.add(lingering, 'database', true);
      await recorder.add(urgent);
      await first;
      expect(written).toEqual([lingering.id, urgent.id]);
      expect(statements).toEqual([2]);
    } finally {
      vi.useRealTimers();
    }
  });
});
