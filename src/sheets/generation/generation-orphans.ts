import { systemActor } from '../../auth/system-actor.ts';
import type { SheetService } from '../sheet-service.ts';
import type { GenerationStore, RunRow } from './generation-store.ts';
import { inputHashOf } from './prompt-template.ts';

/**
 * Cells left `generating` by a worker that died (kill -9, power loss) go back to a settled
 * status: `error` if they hold one, empty if they have no value, else `done` when made by the
 * current prompt from the current inputs and `stale` otherwise. Their run then redoes them.
 */
export async function releaseOrphanedCells(
  deps: { store: GenerationStore; sheets: SheetService },
  run: RunRow,
): Promise<number> {
  if (!run.column_id) return 0;
  const process = await deps.store.findProcessByColumn(run.column_id);
  if (!process) return 0;
  const actor = systemActor();
  const { columns } = await deps.sheets.requireDataset(
    actor,
    run.project_id,
    run.dataset_id,
    'editor',
  );
  const inputs = process.input_column_ids.filter((id) =>
    columns.some((column) => column.id === id),
  );
  let released = 0;
  let after: string | undefined;
  while (true) {
    const window = await deps.sheets.readWindow(actor, run.project_id, run.dataset_id, {
      ...(after ? { afterRowId: after } : {}),
      limit: 1_000,
      columns: [run.column_id, ...inputs],
      filters: [{ columnId: run.column_id, op: 'status', values: ['generating'] }],
    });
    if (window.rows.length === 0) break;
    const writes = window.rows.map((row) => {
      const cell = row.cells[run.column_id!]!;
      const values = Object.fromEntries(inputs.map((id) => [id, row.cells[id]?.value ?? null]));
      const status =
        cell.error !== null
          ? 'error'
          : cell.value === null
            ? null
            : cell.promptHash === process.prompt_hash &&
                cell.inputHash === inputHashOf(inputs, values)
              ? 'done'
              : 'stale';
      return {
        rowId: BigInt(row.rowId),
        expectedVersion: cell.version,
        state: { status: status as never },
      };
    });
    const result = await deps.sheets.writeCells(
      actor,
      run.project_id,
      run.dataset_id,
      run.column_id,
      writes,
    );
    released += result.applied.length;
    if (window.rows.length < 1_000) break;
    after = window.rows.at(-1)!.rowId;
  }
  return released;
}
