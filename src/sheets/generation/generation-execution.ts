import { AppError } from '../../platform/app-error.ts';
import { type RunContext, RunStopped } from '../../platform/jobs/durable-run.ts';
import type { SheetService } from '../sheet-service.ts';
import type { GenerationRunInput } from './generation-job.ts';
import { releaseOrphanedCells } from './generation-orphans.ts';
import { type GenerationStore, type RunRow, TERMINAL_STATUSES } from './generation-store.ts';

/**
 * What every execution of a generation run does first, once the engine has given it the
 * lease: read the run's view (it must be of the expected kind and not ended), release the
 * cells a worker that died left `generating` (its view still says `running`), and mark it
 * running — with `resumeFrom` (a rows run's last checkpoint) written in the same statement.
 */
export async function beginExecution(
  deps: { store: GenerationStore; sheets: SheetService },
  context: RunContext<GenerationRunInput>,
  kind: RunRow['kind'],
  resumeFrom: (run: RunRow) => Promise<Partial<RunRow>> = async () => ({}),
): Promise<RunRow> {
  const { store } = deps;
  const found = await store.findRun(context.run.id);
  if (found?.kind !== kind || (kind === 'column' && !found.column_id))
    throw new AppError('INTERNAL', `Not a ${kind} generation run`);
  if ((TERMINAL_STATUSES as readonly string[]).includes(found.status))
    throw new RunStopped('cancelled');
  if (found.status === 'running') await releaseOrphanedCells(deps, found);
  const resumed = await resumeFrom(found);
  return (
    (await store.transitionRun(found.id, ['queued', 'running', 'paused'], {
      status: 'running',
      started_at: found.started_at ?? new Date(),
      waiting: null,
      ...(resumed as object),
    })) ?? found
  );
}
