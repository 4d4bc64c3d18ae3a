import { systemActor } from '../../auth/system-actor.ts';
import type { EventBus, PublishInput } from '../../platform/events.ts';
import type { Logger } from '../../platform/logger.ts';
import type { CellValue } from '../sheet-schema.ts';
import type { SheetService } from '../sheet-service.ts';
import type { GenerationStore, ProcessRow } from './generation-store.ts';
import { inputHashOf } from './prompt-template.ts';

type PublishListener = (stream: string, event: PublishInput) => void;

/**
 * An event bus that also tells listeners what is published. The sheets module publishes every
 * cell change (user edits, generated results) as `cells-update` on `dataset:<id>`; the
 * staleness tracker listens here instead of reaching into the sheets service.
 */
export function tapEvents(bus: EventBus) {
  const listeners = new Set<PublishListener>();
  const tapped: EventBus = {
    publish(stream, event) {
      const published = bus.publish(stream, event);
      for (const listener of listeners) listener(stream, event);
      return published;
    },
    subscribe: (stream, options) => bus.subscribe(stream, options),
    lastId: (stream) => bus.lastId(stream),
    subscriberCount: (stream) => bus.subscriberCount(stream),
  };
  return {
    bus: tapped,
    onPublish(listener: PublishListener): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

const DATASET_STREAM = 'dataset:';
const PROCESS_CACHE_MS = 2_000;
const READ_CHUNK = 500;

/**
 * Marks AI cells `stale` when an input cell of their row changes (a user edit, a formula, or
 * another AI column's new result): the cell keeps its value and shows it is out of date —
 * never silently kept as if current. Changes are gathered for `delayMs` and handled per
 * dataset; a cell is marked only if its stored input hash differs from its inputs' hash now,
 * so a write that changed nothing marks nothing (and marking never loops).
 */
export function createStalenessTracker(options: {
  sheets: SheetService;
  store: GenerationStore;
  logger: Logger;
  delayMs?: number;
}) {
  const { sheets, store, logger } = options;
  const delayMs = options.delayMs ?? 50;
  const pending = new Map<string, Map<string, Set<string>>>();
  const processCache = new Map<string, { at: number; processes: ProcessRow[] }>();
  let timer: NodeJS.Timeout | undefined;
  let working: Promise<void> = Promise.resolve();
  let closed = false;

  const processesOf = async (datasetId: string) => {
    const cached = processCache.get(datasetId);
    if (cached && Date.now() - cached.at < PROCESS_CACHE_MS) return cached.processes;
    const processes = await store.listProcesses(datasetId);
    if (processCache.size > 1_000) processCache.clear();
    processCache.set(datasetId, { at: Date.now(), processes });
    return processes;
  };

  async function handle(datasetId: string, changes: Map<string, Set<string>>) {
    const processes = await processesOf(datasetId);
    if (processes.length === 0) return;
    for (const process of processes) {
      try {
        await markProcess(datasetId, process, changes);
      } catch (error) {
        // One process failing (a column it reads was deleted with force: its cells are stale
        // already) must not keep the others of the dataset from being checked.
        logger.debug(
          { err: error, datasetId, columnId: process.column_id },
          'staleness check skipped',
        );
      }
    }
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
    const batch = new Map(pending);
    pending.clear();
    working = working.then(async () => {
      for (const [datasetId, changes] of batch) {
        try {
          await handle(datasetId, changes);
        } catch (error) {
          // A dataset deleted or a column dropped meanwhile: nothing left to mark.
          logger.debug({ err: error, datasetId }, 'staleness check skipped');
        }
      }
    });
  };

  return {
    /** Feed it the tapped bus's publications. */
    observe(stream: string, event: PublishInput): void {
      if (closed || !stream.startsWith(DATASET_STREAM)) return;
      // Columns added (a duplicated AI column's process commits with its column) or removed:
      // the cached processes may be missing one, and its cells would not be marked.
      if (event.type === 'columns-change') processCache.delete(stream.slice(DATASET_STREAM.length));
      if (event.type !== 'cells-update') return;
      const data = event.data as { columnId?: string; cells?: { rowId: string }[] };
      if (!data?.columnId || !Array.isArray(data.cells) || data.cells.length === 0) return;
      const datasetId = stream.slice(DATASET_STREAM.length);
      let byColumn = pending.get(datasetId);
      if (!byColumn) {
        byColumn = new Map();
        pending.set(datasetId, byColumn);
      }
      let rows = byColumn.get(data.columnId);
      if (!rows) {
        rows = new Set();
        byColumn.set(data.columnId, rows);
      }
      for (const cell of data.cells) rows.add(cell.rowId);
      timer ??= setTimeout(flush, delayMs);
    },
    /** Forget cached processes of a dataset (they changed). */
    invalidate(datasetId: string): void {
      processCache.delete(datasetId);
    },
    /** Resolves once every change seen so far has been handled. */
    async settle(): Promise<void> {
      if (timer) {
        clearTimeout(timer);
        flush();
      }
      await working;
    },
    async close(): Promise<void> {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      pending.clear();
      await working;
    },
  };
}

export type StalenessTracker = ReturnType<typeof createStalenessTracker>;
