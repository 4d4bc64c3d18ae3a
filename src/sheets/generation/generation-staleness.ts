import { systemActor } from '../../auth/system-actor.ts';
import { AppError } from '../../platform/app-error.ts';
import { uuidv7 } from '../../platform/ids.ts';
import type { Logger } from '../../platform/logger.ts';
import type { CellValue } from '../sheet-schema.ts';
import type { CellsChange, SheetService } from '../sheet-service.ts';
import type { GenerationStore, ProcessRow } from './generation-store.ts';
import { inputHashOf } from './prompt-template.ts';
import type { PendingStaleness, StalenessStore } from './staleness-store.ts';

const READ_CHUNK = 500;

/**
 * Marks AI cells `stale` when an input cell of their row changes (a user edit, a formula, or
 * another AI column's new result): the cell keeps its value and shows it is out of date —
 * never silently kept as if current.
 *
 * The sheets service tells it which cells a compare-and-set changes (`cellsChanged`, a
 * `SheetExtension` hook). When an AI column reads one of them, a `staleness_pending` row is
 * written before the write commits and deleted once the check is done, so a crash in between
 * leaves the check to the next start (`recover`), never lost with this process's memory.
 * Changes are gathered for `delayMs` and handled per dataset; a cell is marked only if its
 * stored input hash differs from its inputs' hash now, so a check that runs twice, or for a
 * write that failed or changed nothing, marks nothing (and marking never loops).
 */
export function createStalenessTracker(options: {
  sheets: SheetService;
  store: GenerationStore;
  pending: StalenessStore;
  logger: Logger;
  delayMs?: number;
}) {
  const { sheets, store, pending, logger } = options;
  const delayMs = options.delayMs ?? 50;
  /** Per dataset: changed rows per column, and the pending rows they came from. */
  const queued = new Map<string, { changes: Map<string, Set<string>>; ids: string[] }>();
  let timer: NodeJS.Timeout | undefined;
  let working: Promise<void> = Promise.resolve();
  let closed = false;

  const enqueue = (entry: PendingStaleness) => {
    let dataset = queued.get(entry.datasetId);
    if (!dataset) {
      dataset = { changes: new Map(), ids: [] };
      queued.set(entry.datasetId, dataset);
    }
    dataset.ids.push(entry.id);
    for (const columnId of entry.columnIds) {
      let rows = dataset.changes.get(columnId);
      if (!rows) {
        rows = new Set();
        dataset.changes.set(columnId, rows);
      }
      for (const rowId of entry.rowIds) rows.add(rowId);
    }
    timer ??= setTimeout(flush, delayMs);
  };

  /** Throws when a check failed for a reason that may pass (its pending rows stay). */
  async function handle(datasetId: string, changes: Map<string, Set<string>>) {
    let retry: unknown;
    for (const process of await store.listProcesses(datasetId)) {
      try {
        await markProcess(datasetId, process, changes);
      } catch (error) {
        // A column it reads was deleted with force (its cells are stale already), or the
        // dataset went away: nothing to mark. Anything else is tried again at the next start.
        if (!(error instanceof AppError)) retry = error;
        logger.debug(
          { err: error, datasetId, columnId: process.column_id },
          'staleness check skipped',
        );
      }
    }
    if (retry) throw retry;
  }

  async function markProcess(
    datasetId: string,
    process: ProcessRow,
    changes: Map<string, Set<string>>,
  ) {
    const actor = systemActor();
    const rowIds = new Set<string>();
    for (const input of process.input_column_ids)
      for (const rowId of changes.get(input) ?? []) rowIds.add(rowId);
    if (rowIds.size === 0) return;
    const ids = [...rowIds];
    for (let index = 0; index < ids.length; index += READ_CHUNK) {
      const chunk = ids.slice(index, index + READ_CHUNK).map((id) => BigInt(id));
      const rows = await sheets.readCells(
        actor,
        process.project_id,
        datasetId,
        [process.column_id, ...process.input_column_ids],
        chunk,
      );
      const writes = [];
      for (const [rowId, cells] of rows) {
        const cell = cells[process.column_id]!;
        if (cell.validated || (cell.status !== 'done' && cell.status !== 'error')) continue;
        if (cell.inputHash === null) continue;
        const values: Record<string, CellValue> = {};
        for (const id of process.input_column_ids) values[id] = cells[id]?.value ?? null;
        if (inputHashOf(process.input_column_ids, values) === cell.inputHash) continue;
        writes.push({
          rowId: BigInt(rowId),
          expectedVersion: cell.version,
          state: { status: 'stale' as const },
        });
      }
      // A conflict means someone wrote the cell meanwhile: their write is newer than ours.
      if (writes.length > 0)
        await sheets.writeCells(actor, process.project_id, datasetId, process.column_id, writes);
    }
  }

  const flush = () => {
    timer = undefined;
    const batch = new Map(queued);
    queued.clear();
    working = working.then(async () => {
      for (const [datasetId, { changes, ids }] of batch) {
        try {
          await handle(datasetId, changes);
          await pending.delete(ids);
        } catch (error) {
          logger.warn({ err: error, datasetId }, 'staleness check failed; retried at next start');
        }
      }
    });
  };

  return {
    /**
     * The sheets hook (`SheetExtension.cellsChanged`): records the check when an AI column
     * reads a changed column, lets the write commit, then queues the check.
     */
    async cellsChanged(change: CellsChange, commit: () => Promise<void>): Promise<void> {
      if (closed) return commit();
      const written = new Set(change.columnIds);
      // Read fresh, not cached: an AI column duplicated a moment ago reads its inputs too.
      const processes = await store.listProcesses(change.datasetId);
      if (!processes.some((process) => process.input_column_ids.some((id) => written.has(id))))
        return commit();
      const entry: PendingStaleness = {
        id: uuidv7(),
        projectId: change.projectId,
        datasetId: change.datasetId,
        columnIds: [...change.columnIds],
        rowIds: [...change.rowIds],
      };
      await pending.insert(entry);
      try {
        await commit();
      } finally {
        // Even when the write failed: the check then finds nothing changed, and ends the row.
        if (!closed) enqueue(entry);
      }
    },
    /** At start: queue the checks a stopped (or crashed) process left; returns how many. */
    async recover(): Promise<number> {
      const left = await pending.list();
      for (const entry of left) enqueue(entry);
      return left.length;
    },
    /** Resolves once every change seen so far has been handled. */
    async settle(): Promise<void> {
      if (timer) {
        clearTimeout(timer);
        flush();
      }
      await working;
    },
    /** Stops reacting; checks not done yet stay recorded for the next start. */
    async close(): Promise<void> {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      queued.clear();
      await working;
    },
  };
}

export type StalenessTracker = ReturnType<typeof createStalenessTracker>;
