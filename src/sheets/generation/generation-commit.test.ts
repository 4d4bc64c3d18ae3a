import { describe, expect, it } from 'vitest';
import { AppError } from '../../platform/app-error.ts';
import { EMPTY_CELL_STATE } from '../sheet-cells.ts';
import type { CellWrite, CompareAndSetResult } from '../sheet-data-store.ts';
import { type CommitOutcome, createCommitter } from './generation-commit.ts';
import { isPassingOutage } from './generation-outage.ts';

/** An in-memory column with compare-and-set on versions, recording every batch. */
function fakeColumn() {
  const cells = new Map<string, { version: number; value: unknown; status: unknown }>();
  const batches: CellWrite[][] = [];
  let gate: { entered: () => void; released: Promise<void> } | undefined;
  let failing: unknown[] = [];
  return {
    cells,
    batches,
    /** The next writes throw these (one each) before anything is written. */
    fail(...errors: unknown[]) {
      failing = errors;
    },
    /** The next write waits until `release()`; `entered` resolves once it has begun. */
    hold() {
      let release!: () => void;
      let entered!: () => void;
      const begun = new Promise<void>((resolve) => {
        entered = resolve;
      });
      gate = {
        entered,
        released: new Promise<void>((resolve) => {
          release = resolve;
        }),
      };
      return { entered: begun, release };
    },
    edit(rowId: string) {
      const cell = cells.get(rowId) ?? { version: 0, value: null, status: null };
      cells.set(rowId, { ...cell, version: cell.version + 1, value: 'user' });
    },
    async write(writes: CellWrite[]): Promise<CompareAndSetResult> {
      batches.push(writes);
      const held = gate;
      gate = undefined;
      if (held) {
        held.entered();
        await held.released;
      }
      if (failing.length > 0) throw failing.shift();
      const result: CompareAndSetResult = { applied: [], conflicts: [] };
      for (const write of writes) {
        const key = write.rowId.toString();
        const cell = cells.get(key) ?? { version: 0, value: null, status: null };
        if (cell.version !== write.expectedVersion) {
          result.conflicts.push({
            rowId: key,
            current: {
              value: cell.value as never,
              state: { ...EMPTY_CELL_STATE, status: cell.status as never, version: cell.version },
            },
          });
          continue;
        }
        const next = {
          version: cell.version + 1,
          value: write.value === undefined ? cell.value : write.value,
          status: write.state?.status,
        };
        cells.set(key, next);
        result.applied.push({
          rowId: key,
          version: next.version,
          value: next.value as never,
          state: { ...EMPTY_CELL_STATE, status: next.status as never, version: next.version },
        });
      }
      return result;
    },
  };
}

function setup(intervalMs = 5) {
  const column = fakeColumn();
  const outcomes: CommitOutcome[] = [];
  const retries: number[] = [];
  const committer = createCommitter({
    write: (writes) => column.write(writes),
    intervalMs,
    onOutcome: (outcome) => outcomes.push(outcome),
    retryable: isPassingOutage,
    retryDelayMs: () => 1,
    onRetry: (_error, failures) => retries.push(failures),
  });
  return { column, outcomes, committer, retries };
}

/** What the PostgreSQL pool throws when it ran dry (platform/db/database.ts). */
const dryPool = () =>
  new AppError('SERVICE_UNAVAILABLE', 'The database has no free connection; retry shortly');

const generating = { state: { status: 'generating' as const } };
const result = (value: string) => ({ value, state: { status: 'done' as const } });

/**
 * The late result of row 1, whose cell the user wrote meanwhile: dropped, the user's value
 * stays, and the outcomes were `first` (the mark's), then a conflict.
 */
async function expectLateResultDropped(
  { column, outcomes, committer }: ReturnType<typeof setup>,
  ticket: ReturnType<ReturnType<typeof setup>['committer']['begin']>,
  first: string,
) {
  committer.finish(ticket, result('late'));
  await committer.drain();
  expect(column.cells.get('1')).toMatchObject({ value: 'user' });
  expect(outcomes.map((outcome) => outcome.kind)).toEqual([first, 'conflict']);
}

describe('committer', () => {
  it('merges a mark and a result that come before the batch is written into one write', async () => {
    const { column, outcomes, committer } = setup();
    const ticket = committer.begin(1n, 0, generating);
    committer.finish(ticket, result('fast'));
    await committer.drain();
    expect(column.batches).toHaveLength(1);
    expect(column.batches[0]).toMatchObject([{ rowId: 1n, expectedVersion: 0, value: 'fast' }]);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['applied']);
  });

  it('writes the result at the version its mark produced, many cells per batch', async () => {
    const { column, outcomes, committer } = setup();
    const tickets = [1n, 2n, 3n].map((rowId) => committer.begin(rowId, 0, generating));
    await committer.drain();
    expect(column.batches).toHaveLength(1);
    for (const ticket of tickets) committer.finish(ticket, result(`v${ticket.rowId}`));
    await committer.drain();
    expect(column.batches).toHaveLength(2);
    expect(column.batches[1]!.map((write) => write.expectedVersion)).toEqual([1, 1, 1]);
    expect(column.cells.get('2')).toMatchObject({ version: 2, value: 'v2', status: 'done' });
    expect(outcomes.filter((outcome) => outcome.kind === 'applied')).toHaveLength(3);
  });

  it('drops the result when the user edited the cell while the call was in flight', async () => {
    const committed = setup();
    const { column, committer } = committed;
    const ticket = committer.begin(1n, 0, generating);
    await committer.drain();
    column.edit('1');
    await expectLateResultDropped(committed, ticket, 'marked');
  });

  it('tells the caller when the mark itself loses (someone wrote first), and drops the result', async () => {
    const committed = setup();
    const { column, committer } = committed;
    column.edit('1');
    const ticket = committer.begin(1n, 0, generating);
    let lost = false;
    ticket.onLost(() => {
      lost = true;
    });
    await committer.drain();
    expect(lost).toBe(true);
    await expectLateResultDropped(committed, ticket, 'mark-lost');
  });

  it('restores a marked cell, and writes nothing for a mark never written', async () => {
    const { column, outcomes, committer } = setup();
    const written = committer.begin(1n, 0, generating);
    await committer.drain();
    const unwritten = committer.begin(2n, 0, generating);
    committer.restore(unwritten, { state: { status: null } });
    committer.restore(written, { state: { status: 'done' } });
    await committer.drain();
    expect(column.cells.get('1')).toMatchObject({ version: 2, status: 'done' });
    expect(column.cells.has('2')).toBe(false);
    expect(outcomes.map((outcome) => outcome.kind).sort()).toEqual([
      'marked',
      'restored',
      'restored',
    ]);
  });

  it('holds a result back while its mark is being written, then writes it at the new version', async () => {
    const { column, committer } = setup(1);
    const markWrite = column.hold();
    const ticket = committer.begin(1n, 0, generating);
    await markWrite.entered;
    expect(ticket.inFlight).toBe(true);
    committer.finish(ticket, result('after'));
    markWrite.release();
    await committer.drain();
    expect(column.batches.map((batch) => batch[0]!.expectedVersion)).toEqual([0, 1]);
    expect(column.cells.get('1')).toMatchObject({ version: 2, value: 'after' });
  });
});

describe('committer: system changes', () => {
  it('retakes a cell the system marked stale since it was read (same value, not validated)', async () => {
    const { column, outcomes, committer } = setup();
    column.cells.set('1', { version: 4, value: null, status: 'stale' });
    const ticket = committer.begin(1n, 3, generating, (current) => current.value === null);
    committer.finish(ticket, result('filled'));
    await committer.drain();
    expect(column.cells.get('1')).toMatchObject({ version: 5, value: 'filled', status: 'done' });
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['applied']);
  });
});

describe('committer: a dry database pool (issue #20)', () => {
  it('writes the same batch again after the pool ran dry, twice in a row, and loses no cell', async () => {
    const { column, outcomes, committer, retries } = setup();
    column.fail(dryPool(), dryPool());
    const tickets = [1n, 2n, 3n].map((rowId) => committer.begin(rowId, 0, generating));
    await committer.drain();
    expect(retries).toEqual([1, 2]);
    expect(column.batches).toHaveLength(3);
    expect(column.batches[2]!.map((write) => write.expectedVersion)).toEqual([0, 0, 0]);
    for (const ticket of tickets) committer.finish(ticket, result(`v${ticket.rowId}`));
    await committer.drain();
    expect([...column.cells.values()].map((cell) => cell.value)).toEqual(['v1', 'v2', 'v3']);
    expect(outcomes.filter((outcome) => outcome.kind === 'applied')).toHaveLength(3);
  });

  it('writes the result instead of a mark that failed, and nothing for a cell restored meanwhile', async () => {
    const { column, outcomes, committer } = setup(1);
    const markWrite = column.hold();
    column.fail(dryPool());
    const answered = committer.begin(1n, 0, generating);
    const stopped = committer.begin(2n, 0, generating);
    await markWrite.entered;
    committer.finish(answered, result('answer'));
    committer.restore(stopped, { state: { status: null } });
    markWrite.release();
    await committer.drain();
    expect(column.batches.map((batch) => batch.map((write) => write.rowId))).toEqual([
      [1n, 2n],
      [1n],
    ]);
    expect(column.cells.get('1')).toMatchObject({ version: 1, value: 'answer', status: 'done' });
    expect(column.cells.has('2')).toBe(false);
    expect(outcomes.map((outcome) => outcome.kind).sort()).toEqual(['applied', 'restored']);
  });

  it('still fails on an error that does not pass (a dataset held elsewhere is not retried here)', async () => {
    const { column, committer, retries } = setup();
    column.fail(
      new AppError('SERVICE_UNAVAILABLE', 'Another server holds this dataset', {
        details: { datasetId: 'd1' },
      }),
    );
    committer.begin(1n, 0, generating);
    await expect(committer.drain()).rejects.toThrow('Another server holds this dataset');
    expect(retries).toEqual([]);
  });
});
