import type { Actor } from '../../access/actor.ts';
import { notFound } from '../../platform/app-error.ts';
import type { CellValue } from '../sheet-schema.ts';
import type { AiColumnUseCasesDeps } from './ai-column-shared.ts';
import { presentRun } from './generation-presenter.ts';
import { dependencyGraph, presentProcess, snapshotOf } from './generation-process.ts';
import { isOutdated } from './generation-scope.ts';
import { inputHashOf } from './prompt-template.ts';

/** Use case: an AI column with what it depends on, what reads it, and its active run. */
export function getAiColumnUseCase(deps: AiColumnUseCasesDeps) {
  const { store, loaders, control } = deps;
  return async function getAiColumn(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columnId: string,
  ) {
    const target = [actor, projectId, datasetId, columnId] as const;
    const { columns, process } = await loaders.loadColumn(...target, 'viewer');
    const processes = await store.listProcesses(datasetId);
    const graph = dependencyGraph(columns, processes);
    const readers = [...graph].filter(([, inputs]) => inputs.includes(columnId)).map(([id]) => id);
    const active = await store.findActiveRun(columnId);
    return {
      process: presentProcess(process, columns),
      dependsOn: process.input_column_ids,
      usedBy: readers,
      activeRun: active ? presentRun(active, control.live(active.id)) : null,
    };
  };
}

/**
 * Use case: where a cell's value came from — model, prompt and input hashes, tokens, cost,
 * latency, attempts, sources, error — and whether the current prompt and inputs made it.
 */
export function cellProvenanceUseCase(deps: AiColumnUseCasesDeps) {
  const { sheets, loaders } = deps;
  return async function cellProvenance(
    actor: Actor,
    projectId: string,
    datasetId: string,
    columnId: string,
    rowId: bigint,
  ) {
    const target = [actor, projectId, datasetId, columnId] as const;
    const { columns, process } = await loaders.loadColumn(...target, 'viewer');
    const snapshot = snapshotOf(process, columns);
    const rows = await sheets.readCells(
      actor,
      projectId,
      datasetId,
      [columnId, ...snapshot.inputs.filter((id) => columns.some((c) => c.id === id))],
      [rowId],
    );
    const cells = rows.get(rowId.toString());
    if (!cells) throw notFound('row', rowId.toString());
    const cell = cells[columnId]!;
    const values: Record<string, CellValue> = {};
    for (const id of snapshot.inputs) values[id] = cells[id]?.value ?? null;
    const generated = cell.promptHash !== null;
    return {
      ...cell,
      rowId: rowId.toString(),
      columnId,
      sources: (cell.sources as unknown[] | null) ?? [],
      current: {
        processVersion: process.version,
        promptHash: process.prompt_hash,
        inputHash: inputHashOf(snapshot.inputs, values),
        /** Whether the cell was made by the current prompt from the current inputs. */
        upToDate:
          generated &&
          !isOutdated(
            { rowId: rowId.toString(), cell: cell as never, values },
            { promptHash: process.prompt_hash, inputs: snapshot.inputs },
          ),
      },
    };
  };
}
