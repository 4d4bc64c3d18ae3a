import type { Transaction } from 'kysely';
import type { Actor } from '../../access/actor.ts';
import type { AuditRecorder } from '../../access/audit-recorder.ts';
import { systemActor } from '../../auth/system-actor.ts';
import type { DB } from '../../migrations/db-schema.ts';
import { uuidv7 } from '../../platform/ids.ts';
import { remapReferences } from '../column-refs.ts';
import type { CellValue } from '../sheet-schema.ts';
import type { ColumnCopy, DatasetCopy, SheetExtension, SheetService } from '../sheet-service.ts';
import { outputSpecOf, promptHashOf, searchOf } from './generation-process.ts';
import { markDoneCellsStale } from './generation-scope.ts';
import type { GenerationStore, ProcessRow } from './generation-store.ts';
import { inputHashOf, templateInputs } from './prompt-template.ts';
import type { RunControl } from './run-shared.ts';
import { stopRun } from './run-stop.ts';

/** A stored template with its column references pointed at the copy's columns. */
export const remapTemplate = remapReferences;

/** The columns a process reads, in the order the runner hashes them (prompt, then search). */
function inputsOf(prompt: string, search: { query?: string | undefined } | null): string[] {
  return [
    ...new Set([...templateInputs(prompt), ...(search?.query ? templateInputs(search.query) : [])]),
  ];
}

/**
 * What AI columns add to the sheets use cases (plugged in with `sheets.extend`): a column
 * their prompts read is not deleted without `force`, and then their runs stop and their cells
 * turn stale; a copied dataset gets its AI columns' processes, and a duplicated AI column its
 * process, with the copied cells' hashes rewritten so the copy is as up to date as the source.
 */
export function createGenerationExtension(deps: {
  store: GenerationStore;
  sheets: SheetService;
  /** Cancels the runs of a reader column through their durable runs. */
  control: Pick<RunControl, 'requestCancel'>;
  audit: AuditRecorder;
  onProcessesChanged: (datasetId: string) => void;
}): SheetExtension {
  const { store, sheets, control } = deps;

  async function readersOf(datasetId: string, columnId: string) {
    const readers = (await store.listProcesses(datasetId)).filter(
      (process) => process.column_id !== columnId && process.input_column_ids.includes(columnId),
    );
    if (readers.length === 0) return [];
    const { columns } = await sheets.requireDataset(
      systemActor(),
      readers[0]!.project_id,
      datasetId,
      'viewer',
    );
    return readers.map((process) => ({
      id: process.column_id,
      name: columns.find((column) => column.id === process.column_id)?.name ?? process.column_id,
    }));
  }

  /** Stops the readers' runs: they could not read the deleted column. */
  async function stopRuns(readerIds: readonly string[]) {
    const error = {
      code: 'CONFLICT',
      message: 'A column the prompt reads was deleted; edit the prompt, then run again',
    };
    for (const run of await store.listActiveRuns(readerIds))
      await stopRun({ store, sheets, control }, run.id, error);
  }

  async function removeInput(
    change: { projectId: string; datasetId: string; columnId: string; readerIds: string[] },
    remove: () => Promise<void>,
  ) {
    await stopRuns(change.readerIds);
    await remove();
    deps.onProcessesChanged(change.datasetId);
    const processes = (await store.listProcesses(change.datasetId)).filter((process) =>
      change.readerIds.includes(process.column_id),
    );
    // Every generated, unvalidated cell turns stale: one of its inputs is gone.
    for (const process of processes) await markDoneCellsStale(sheets, process);
  }

  /**
   * The process of a copied AI column: the source's, with its column, prompt, search query and
   * inputs pointing at the copy's columns (`columnIds`: source id → copy id; ids not in it
   * stay) and its prompt hash recomputed; `sourceInputs` are what the source's prompt reads.
   */
  function copyProcess(
    source: ProcessRow,
    target: {
      actor: Actor;
      projectId: string;
      datasetId: string;
      columnIds: ReadonlyMap<string, string>;
    },
  ) {
    const mapped = (id: string) => target.columnIds.get(id) ?? id;
    const prompt = remapTemplate(source.prompt, target.columnIds);
    const sourceSearch = searchOf(source);
    const search = sourceSearch
      ? {
          enabled: sourceSearch.enabled,
          ...(sourceSearch.query
            ? { query: remapTemplate(sourceSearch.query, target.columnIds) }
            : {}),
        }
      : null;
    const output = outputSpecOf(source);
    const promptHash = promptHashOf({
      template: prompt,
      instructions: source.instructions,
      provider: source.provider,
      model: source.model,
      parameters: source.parameters,
      output,
      search,
    });
    return {
      source,
      sourceInputs: inputsOf(source.prompt, sourceSearch ?? null),
      row: {
        id: uuidv7(),
        project_id: target.projectId,
        dataset_id: target.datasetId,
        column_id: mapped(source.column_id),
        version: source.version,
        prompt,
        instructions: source.instructions,
        provider: source.provider,
        model: source.model,
        parameters: JSON.stringify(source.parameters ?? {}),
        output_type: source.output_type,
        categories: source.categories === null ? null : JSON.stringify(source.categories),
        json_schema: source.json_schema === null ? null : JSON.stringify(source.json_schema),
        image_size: source.image_size,
        search: search ? JSON.stringify(search) : null,
        input_column_ids: source.input_column_ids.map(mapped),
        prompt_hash: promptHash,
        created_by: target.actor.via === 'system' ? null : target.actor.userId,
      },
    };
  }

  async function copyDataset(copy: DatasetCopy) {
    const sources = await store.listProcesses(copy.sourceId);
    if (sources.length === 0) return undefined;
    const copies = sources.map((source) =>
      copyProcess(source, {
        actor: copy.actor,
        projectId: copy.projectId,
        datasetId: copy.copyId,
        columnIds: copy.columnIds,
      }),
    );
    for (const { source, sourceInputs, row } of copies)
      await rehashCells(copy, source, sourceInputs, row);
    return async (trx: Transaction<DB>) => {
      for (const { row } of copies) await store.insertProcess(row, trx);
    };
  }

  /**
   * A duplicated AI column gets the source's process (same prompt, inputs and settings; the
   * templates that read the source still read the source) and keeps its copied cells exactly
   * as up to date as the source's.
   */
  async function copyColumn(copy: ColumnCopy) {
    const source = await store.findProcessByColumn(copy.sourceId);
    if (!source || source.dataset_id !== copy.datasetId) return undefined;
    const columnIds = new Map(copy.columns.map((column) => [column.id, column.id]));
    columnIds.set(copy.sourceId, copy.copyId);
    const { sourceInputs, row } = copyProcess(source, {
      actor: copy.actor,
      projectId: copy.projectId,
      datasetId: copy.datasetId,
      columnIds,
    });
    await rehashCells({ columnIds, cells: copy.cells }, source, sourceInputs, row);
    return async (trx: Transaction<DB>) => {
      await store.insertProcess(row, trx);
      await deps.audit.record(trx, {
        actor: copy.actor,
        action: 'ai-column.create',
        entityType: 'dataset_column',
        entityId: copy.copyId,
        projectId: copy.projectId,
        summary: {
          datasetId: copy.datasetId,
          name: copy.name,
          model: source.model,
          output: source.output_type,
          copiedFrom: copy.sourceId,
        },
      });
    };
  }

  /**
   * The copied cells of one AI column, made consistent with its copied process: the hashes
   * name column ids, so a cell made by the source's current prompt from its current inputs
   * gets the copy's hashes (and stays up to date); any other keeps hashes that match nothing
   * (it was outdated, and stays so). A cell copied while it was `generating` is settled, as
   * after a crash: no run of the copy holds it. (A duplicated column reads the same columns:
   * only its own id changes, so the hashes stay, and only `generating` cells are settled.)
   */
  async function rehashCells(
    copy: Pick<DatasetCopy, 'columnIds' | 'cells'>,
    source: ProcessRow,
    sourceInputs: readonly string[],
    row: { column_id: string; prompt_hash: string },
  ) {
    const copyIds = new Set(copy.columnIds.values());
    const inputs = sourceInputs.map((id) => copy.columnIds.get(id) ?? id);
    const readable = inputs.filter((id) => copyIds.has(id));
    for await (const page of copy.cells.scan([row.column_id, ...readable])) {
      const writes = [];
      for (const read of page) {
        const cell = read.cells[row.column_id]!;
        const { state } = cell;
        if (state.version === 0) continue;
        const values: Record<string, CellValue> = {};
        const sourceValues: Record<string, CellValue> = {};
        for (const [index, id] of inputs.entries()) {
          const value = read.cells[id]?.value ?? null;
          values[id] = value;
          sourceValues[sourceInputs[index]!] = value;
        }
        const promptHash =
          state.promptHash === source.prompt_hash ? row.prompt_hash : state.promptHash;
        const inputHash =
          state.inputHash !== null && state.inputHash === inputHashOf(sourceInputs, sourceValues)
            ? inputHashOf(inputs, values)
            : state.inputHash;
        let status = state.status;
        if (status === 'generating')
          status =
            state.error !== null
              ? 'error'
              : cell.value === null
                ? null
                : promptHash === row.prompt_hash && inputHash === inputHashOf(inputs, values)
                  ? 'done'
                  : 'stale';
        if (
          promptHash === state.promptHash &&
          inputHash === state.inputHash &&
          status === state.status
        )
          continue;
        writes.push({
          rowId: BigInt(read.rowId),
          expectedVersion: state.version,
          state: { promptHash, inputHash, status },
        });
      }
      if (writes.length > 0) await copy.cells.write(row.column_id, writes);
    }
  }

  return { kinds: ['ai'] as const, readersOf, removeInput, copyDataset, copyColumn };
}
