import { systemActor } from '../../auth/system-actor.ts';
import type { JobQueue } from '../../platform/jobs/job-queue.ts';
import type { Logger } from '../../platform/logger.ts';
import type { SheetService } from '../sheet-service.ts';
import { GENERATE_JOB, type Runner } from './generation-runner.ts';
import type { GenerationStore, RunRow } from './generation-store.ts';
import { inputHashOf } from './prompt-template.ts';

/** Job payload of `sheets.generate-column`. */
export interface GenerateJobData {
  runId: string;
}

/**
 * Registers the run job. pg-boss only carries "run X should be executing"; the run row holds
 * the state, and its lease decides who executes it, so a duplicate job (a retry after a crash,
 * a re-queue at start-up) finds the run taken or finished and returns.
 */
export function registerGenerationJobs(options: {
  jobs: JobQueue;
  runner: Runner;
  concurrency: number;
}) {
  options.jobs.register<GenerateJobData>({
    name: GENERATE_JOB,
    concurrency: options.concurrency,
    queue: {
      // Just under pg-boss's 24-hour ceiling. A run may take longer: the lease (not pg-boss) decides who
      // executes it, so a retried job finds it held and returns.
      expireInSeconds: 23 * 3_600,
      retryLimit: 3,
      retryDelay: 5,
    },
    handler: async (job) => options.runner.execute(job.data.runId),
  });
}

export function queueRun(jobs: JobQueue, runId: string): Promise<string> {
  return jobs.send<GenerateJobData>(GENERATE_JOB, { runId });
}

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

/**
 * At start-up (and then every `LEASE_MS`): runs that should be executing but are not get
 * queued again. Embedded (PGlite) one process owns the data dir, so every `running` run is an
 * orphan of the previous process; on PostgreSQL only runs whose lease ran out are.
 */
export async function recoverRuns(deps: {
  store: GenerationStore;
  sheets: SheetService;
  jobs: JobQueue;
  logger: Logger;
  allRunningAreOrphans: boolean;
  isActiveHere: (runId: string) => boolean;
}): Promise<number> {
  const runs = await deps.store.listRecoverable({ allRunning: deps.allRunningAreOrphans });
  let recovered = 0;
  for (const run of runs) {
    if (deps.isActiveHere(run.id)) continue;
    try {
      if (run.status === 'running') {
        const released = await releaseOrphanedCells(deps, run);
        const queued = await deps.store.transitionRun(run.id, ['running'], {
          status: 'queued',
          lease_owner: null,
          lease_expires_at: null,
        });
        if (!queued) continue;
        if (queued.cancel_requested) {
          await deps.store.updateRun(run.id, { status: 'cancelled', finished_at: new Date() });
          await deps.store.deleteRunCells(run.id);
          continue;
        }
        if (queued.pause_requested) {
          await deps.store.updateRun(run.id, {
            status: 'paused',
            pause_reason: 'user',
            pause_requested: false,
          });
          continue;
        }
        deps.logger.info(
          { runId: run.id, released },
          'resuming a generation run left by a stopped worker',
        );
      }
      await queueRun(deps.jobs, run.id);
      recovered++;
    } catch (error) {
      deps.logger.warn({ err: error, runId: run.id }, 'could not recover a generation run');
    }
  }
  return recovered;
}
